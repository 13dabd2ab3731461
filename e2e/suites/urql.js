// urql against the real server: a query, a mutation and a subscription
// through subscriptionExchange over graphql-ws.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, cacheExchange, fetchExchange, subscriptionExchange, gql } from '@urql/core';
import { createClient } from 'graphql-ws';
import { Collector, uniqueTitle } from '../lib/helpers.js';

export function urqlSuite(env) {
  describe('urql', () => {
    let client;
    let wsClient;
    before(() => {
      wsClient = createClient({ url: env.server.wsURL, webSocketImpl: WebSocket });
      client = new Client({
        url: env.server.graphqlURL,
        exchanges: [
          cacheExchange,
          subscriptionExchange({
            forwardSubscription(request) {
              const input = { ...request, query: request.query || '' };
              return { subscribe: (sink) => ({ unsubscribe: wsClient.subscribe(input, sink) }) };
            },
          }),
          fetchExchange,
        ],
      });
    });
    after(() => wsClient.dispose());

    it('runs a mutation and a query', async () => {
      const title = uniqueTitle('urql');
      const created = await client.mutation(gql`mutation($t: String!) { createItem(input: { title: $t }) { id title version } }`, { t: title }).toPromise();
      assert.equal(created.error, undefined);
      assert.equal(created.data.createItem.title, title);
      assert.equal(created.data.createItem.version, 1);

      const listed = await client.query(gql`query($s: String) { items(first: 3, filter: { search: $s }) { totalCount nodes { id title } } }`, { s: title }).toPromise();
      assert.equal(listed.error, undefined);
      assert.equal(listed.data.items.totalCount, 1);
      assert.equal(listed.data.items.nodes[0].id, created.data.createItem.id);
    });

    it('reports a field error with its code', async () => {
      const res = await client.mutation(gql`mutation { createItem(input: { title: "" }) { id } }`, {}).toPromise();
      assert.ok(res.error, 'an error');
      assert.equal(res.error.graphQLErrors[0].extensions.code, 'BAD_USER_INPUT');
      assert.equal(res.error.graphQLErrors[0].extensions.field, 'title');
    });

    it('receives events through subscriptionExchange', async () => {
      const got = new Collector();
      const { unsubscribe } = client.subscription(gql`subscription { itemEvents { type id item { title } } }`, {})
        .subscribe((r) => (r.error ? got.fail(r.error) : got.push(r.data.itemEvents)));
      try {
        const title = uniqueTitle('urql events');
        // Until the first event: the subscription is live a moment after
        // the socket is acknowledged.
        for (let i = 0; i < 50 && !got.values.some((ev) => ev.item?.title === title); i++) {
          await client.mutation(gql`mutation($t: String!) { createItem(input: { title: $t }) { id } }`, { t: title }).toPromise();
          await new Promise((r) => setTimeout(r, 100));
        }
        const events = await got.until((v) => v.some((ev) => ev.item?.title === title));
        const ev = events.find((e) => e.item?.title === title);
        assert.equal(ev.type, 'CREATED');
        assert.match(ev.id, /^[1-9][0-9]*$/);
      } finally {
        unsubscribe();
      }
    });
  });
}
