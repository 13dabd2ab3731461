// Starts the real server, built from the repository, against a database of
// its own on the PostgreSQL server of TEST_DATABASE_URL and the in-process
// JSONPlaceholder stand-in, on free ports of 127.0.0.1. Nothing here reaches
// the internet: GraphiQL's files come from this package's node_modules.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const run = promisify(execFile);

export const e2eDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(e2eDir, '..');

/** Builds the server and the stand-in into dir. */
async function build(dir) {
  const env = { ...process.env, CGO_ENABLED: '0' };
  await Promise.all([
    run('go', ['build', '-o', path.join(dir, 'itemsrv'), '.'], { cwd: repoDir, env }),
    run('go', ['build', '-o', path.join(dir, 'jsonplaceholder'), './cmd/jsonplaceholder'], { cwd: repoDir, env }),
  ]);
}

/** The maintenance database URL; the test command always exports it. */
function maintenanceURL() {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    throw new Error('TEST_DATABASE_URL is not set: run the suite through scripts/test, or export the URL of a PostgreSQL server that allows CREATE DATABASE');
  }
  return url;
}

function databaseURL(base, name) {
  const u = new URL(base);
  u.pathname = '/' + name;
  return u.toString();
}

async function adminQuery(sql) {
  const client = new pg.Client({ connectionString: maintenanceURL() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Spawns a program that logs JSON lines on stderr and waits for the line
 * whose msg is readyMsg; returns the child and that line.
 */
function startLogged(name, cmd, args, opts, readyMsg) {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 30 s`)), 30_000);
    function fail(err) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      err.message += `\n${name} log:\n${log.join('\n')}`;
      reject(err);
    }
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        log.push(line);
        if (log.length > 500) log.shift();
        let rec;
        try { rec = JSON.parse(line); } catch { continue; }
        if (rec.msg === readyMsg) {
          clearTimeout(timer);
          resolve({ child, ready: rec, log });
        }
      }
    });
    child.stdout.resume();
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`${name} exited (${code ?? signal}) before it was ready`)));
  });
}

function stop(child, timeoutMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
    child.kill('SIGTERM');
  });
}

// Settings that must not leak from the developer's environment into the
// server under test.
const ours = /^(PORT|DATABASE_URL|EXTERNAL_|GRAPHQL_|AUTH_|METRICS_ADDR|PPROF_ADDR|CORS_|MAX_BODY_BYTES|LOG_LEVEL|SHUTDOWN_TIMEOUT|REQUEST_TIMEOUT|JSONPLACEHOLDER_)/;

/**
 * Starts everything and returns { url, graphqlURL, wsURL, upstreamURL,
 * stop() }. extraEnv is added to the server's environment.
 */
export async function startServer(extraEnv = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'itemsrv-e2e-'));
  const dbName = `itemsrv_e2e_${process.pid}_${randomBytes(4).toString('hex')}`;
  const cleanups = [() => rm(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const f of cleanups.reverse()) {
      await f();
    }
  };
  try {
    await build(dir);
    await adminQuery(`CREATE DATABASE ${dbName}`);
    cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));

    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !ours.test(k)));
    const upstream = await startLogged('jsonplaceholder', path.join(dir, 'jsonplaceholder'),
      ['-addr', '127.0.0.1:0'], { cwd: dir, env }, 'jsonplaceholder stand-in listening');
    cleanups.push(() => stop(upstream.child));
    const upstreamURL = upstream.ready.url;

    const server = await startLogged('itemsrv', path.join(dir, 'itemsrv'), [], {
      cwd: dir, // no .env of the developer's
      env: {
        ...env,
        PORT: '0',
        DATABASE_URL: databaseURL(maintenanceURL(), dbName),
        EXTERNAL_API_URL: upstreamURL,
        EXTERNAL_API_RETRY_WAIT: '10ms',
        EXTERNAL_API_RETRY_MAX_WAIT: '50ms',
        GRAPHQL_PLAYGROUND_ASSETS_DIR: path.join(e2eDir, 'node_modules'),
        ...extraEnv,
      },
    }, 'serving');
    let exitCode;
    cleanups.push(async () => { exitCode = await stop(server.child); });
    const port = server.ready.addr.split(':').pop();
    const url = `http://127.0.0.1:${port}`;
    return {
      url,
      graphqlURL: `${url}/graphql`,
      wsURL: `ws://127.0.0.1:${port}/graphql`,
      upstreamURL,
      log: server.log,
      async stop() {
        await cleanup();
        return exitCode;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
