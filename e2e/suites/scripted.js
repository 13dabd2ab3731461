// A scripted client: plain fetch, POST and GET, as a shell script or a cron
// job would use the API.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { post, uniqueTitle } from '../lib/helpers.js';

export function scriptedSuite(env) {
  describe('plain fetch', () => {
    it('POSTs a mutation and a query', async () => {
      const title = uniqueTitle('fetch');
      const created = await post(env.server.graphqlURL, 'mutation($t: String!) { createItem(input: { title: $t }) { id title } }', { t: title });
      assert.equal(created.status, 200);
      assert.match(created.headers.get('content-type'), /^application\/graphql-response\+json/);
      assert.equal(created.body.data.createItem.title, title);

      const got = await post(env.server.graphqlURL, 'query($id: ID!) { item(id: $id) { id title } }', { id: created.body.data.createItem.id });
      assert.deepEqual(got.body, { data: { item: { id: created.body.data.createItem.id, title } } });
    });

    it('GETs a query, and refuses a mutation over GET', async () => {
      const u = new URL(env.server.graphqlURL);
      u.searchParams.set('query', 'query($n: Int) { externalPosts(limit: $n) { id } }');
      u.searchParams.set('variables', JSON.stringify({ n: 2 }));
      const res = await fetch(u, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { data: { externalPosts: [{ id: '1' }, { id: '2' }] } });

      const m = new URL(env.server.graphqlURL);
      m.searchParams.set('query', 'mutation { createItem(input: { title: "over GET" }) { id } }');
      const refused = await fetch(m, { headers: { accept: 'application/json' } });
      assert.equal(refused.status, 405);
      await refused.body?.cancel();
    });

    it('answers the operational endpoints', async () => {
      for (const p of ['/healthz', '/readyz']) {
        const res = await fetch(env.server.url + p);
        assert.equal(res.status, 200, p);
        await res.body?.cancel();
      }
    });
  });
}
