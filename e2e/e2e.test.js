// The end-to-end suite: one real server (built from this repository) on its
// own PostgreSQL database with the JSONPlaceholder stand-in, exercised by the
// clients people use. Run through scripts/test, which exports
// TEST_DATABASE_URL; `bash e2e/setup.sh` installs Chromium first.
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import { apolloSuite } from './suites/apollo.js';
import { urqlSuite } from './suites/urql.js';
import { scriptedSuite } from './suites/scripted.js';
import { auditSuite } from './suites/audit.js';
import { browserSuite } from './suites/browser.js';

describe('itemsrv end to end', () => {
  const env = {};
  before(async () => {
    try {
      env.server = await startServer();
    } catch (err) {
      // node --test would only report the tests as cancelled.
      console.error('e2e: could not start the server:', err);
      throw err;
    }
  });

  apolloSuite(env);
  urqlSuite(env);
  scriptedSuite(env);
  auditSuite(env);
  browserSuite(env);

  after(async () => {
    // The contract: SIGTERM finishes in-flight work and exits 0. stop()
    // returns the exit code; it is checked in the test below when it ran.
    if (env.server && !env.stopped) await env.server.stop();
  });

  it('shuts down cleanly on SIGTERM', async () => {
    env.stopped = true;
    const code = await env.server.stop();
    assert.equal(code, 0);
  });
});
