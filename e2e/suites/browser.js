// GraphiQL in Debian's Chromium: the page loads from the server alone (its
// files from GRAPHQL_PLAYGROUND_ASSETS_DIR), runs a query typed into the
// editor and shows a subscription's events.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { post, uniqueTitle } from '../lib/helpers.js';
import { e2eDir } from '../lib/server.js';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = path.join(e2eDir, 'artifacts');

const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// CodeMirror 5 keeps its editor object on the wrapper element.
const editorValue = (sel) => `document.querySelector(${JSON.stringify(sel + ' .CodeMirror')})?.CodeMirror?.getValue()`;
const QUERY_EDITOR = '.graphiql-query-editor';
const RESPONSE = '.graphiql-response';

export function browserSuite(env) {
  describe('GraphiQL in Chromium', () => {
    let context;
    let page;
    let userDataDir;
    const offsite = [];
    const consoleErrors = [];

    before(async () => {
      assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: run bash e2e/setup.sh (installs Debian's chromium)`);
      userDataDir = await mkdtemp(path.join(tmpdir(), 'itemsrv-e2e-chromium-'));
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: chromiumPath,
        headless: true,
        args: flags,
        viewport: { width: 1400, height: 900 },
      });
      // Anything not from our server is refused and remembered: the page
      // must work with no internet.
      const origin = new URL(env.server.url).origin;
      await context.route('**/*', (route) => {
        const u = new URL(route.request().url());
        if (u.origin === origin || u.protocol === 'data:' || u.protocol === 'blob:') {
          return route.continue();
        }
        offsite.push(u.href);
        return route.abort();
      });
      page = context.pages()[0] ?? await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
    });

    after(async () => {
      await context?.close();
      if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    });

    async function typeQuery(text) {
      await page.click(`${QUERY_EDITOR} .CodeMirror`);
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type(text);
      await page.keyboard.press('Escape'); // close the autocomplete hints
      // Typing a closing bracket steps over the one the editor inserted.
      assert.equal(await page.evaluate(editorValue(QUERY_EDITOR)), text);
      // GraphiQL parses the editor's text a moment after the last key (that
      // is how it tells a subscription, for the WebSocket, from a query); a
      // person does not press run within that moment either.
      await page.waitForTimeout(500);
    }

    async function run() {
      await page.click('.graphiql-execute-button');
    }

    async function response(pred, ms = 15_000) {
      const handle = await page.waitForFunction(([expr, src]) => {
        const text = eval(expr); // eslint-disable-line no-eval
        if (!text) return false;
        let json;
        try { json = JSON.parse(text); } catch { return false; }
        return new Function('r', `return (${src})(r)`)(json) ? json : false; // eslint-disable-line no-new-func
      }, [editorValue(RESPONSE), pred.toString()], { timeout: ms, polling: 100 });
      return handle.jsonValue();
    }

    it('loads from the server alone', async () => {
      const res = await page.goto(env.server.url + '/', { waitUntil: 'load' });
      assert.equal(res.status(), 200);
      await page.waitForSelector(`${QUERY_EDITOR} .CodeMirror`, { timeout: 20_000 });
      assert.deepEqual(offsite, [], 'requests that left the server');
      const scripts = await page.$$eval('script[src], link[rel=stylesheet]', (els) => els.map((e) => [e.src || e.href, e.integrity]));
      assert.equal(scripts.length, 6);
      for (const [src, integrity] of scripts) {
        assert.ok(src.startsWith(`${env.server.url}/playground-assets/`), src);
        assert.match(integrity, /^sha256-/, `${src} has integrity`);
      }
    });

    it('runs a query typed into the editor', async () => {
      const titles = [uniqueTitle('browser first'), uniqueTitle('browser second')];
      for (const t of titles) {
        await post(env.server.graphqlURL, 'mutation($t: String!) { createItem(input: { title: $t }) { id } }', { t });
      }
      await typeQuery('{ items(first: 2) { totalCount nodes { id title } } }');
      await run();
      const r = await response((j) => j.data && j.data.items);
      assert.ok(r.data.items.totalCount >= 2);
      assert.equal(r.data.items.nodes.length, 2);
      // Newest first: the two just created.
      assert.deepEqual(r.data.items.nodes.map((n) => n.title), [titles[1], titles[0]]);
      for (const n of r.data.items.nodes) {
        assert.match(n.id, /^[1-9][0-9]*$/);
      }
      assert.equal(r.errors, undefined);
      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'graphiql-query.png') });
    });

    it('shows the events of a subscription', async () => {
      await typeQuery('subscription { itemEvents { type id item { title } } }');
      await run();
      const title = uniqueTitle('from the test');
      let shown;
      // The subscription is live a moment after the socket opens: keep
      // creating until the page shows one of ours.
      for (let i = 0; i < 50 && !shown; i++) {
        await post(env.server.graphqlURL, 'mutation($t: String!) { createItem(input: { title: $t }) { id } }', { t: title });
        shown = await response((j) => j.data && j.data.itemEvents, 300).catch(() => undefined);
      }
      if (!shown) {
        await mkdir(artifacts, { recursive: true });
        await page.screenshot({ path: path.join(artifacts, 'graphiql-subscription-failed.png') });
      }
      assert.ok(shown, `the page showed an event; it shows ${await page.evaluate(editorValue(RESPONSE))}`);
      const ev = await response(new Function('j', `return j.data && j.data.itemEvents && j.data.itemEvents.item && j.data.itemEvents.item.title === ${JSON.stringify(title)}`));
      assert.equal(ev.data.itemEvents.type, 'CREATED');

      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'graphiql-subscription.png') });
      assert.deepEqual(offsite, [], 'requests that left the server');
      assert.deepEqual(consoleErrors.filter((e) => !/favicon/.test(e)), [], 'errors in the page');
    });
  });
}
