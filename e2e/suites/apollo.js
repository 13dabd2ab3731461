// Apollo Client against the real server: every operation of the contract,
// the normalized cache, error codes, subscriptions over graphql-ws and
// Automatic Persisted Queries.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { ApolloClient, InMemoryCache, HttpLink, ApolloLink, gql } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createClient } from 'graphql-ws';
import { Collector, uniqueTitle, ITEM_FIELDS } from '../lib/helpers.js';

const ITEM = gql`query Item($id: ID!) { item(id: $id) { ${ITEM_FIELDS} } }`;
const ITEMS = gql`query Items($first: Int, $after: String, $filter: ItemFilter, $orderBy: ItemOrder) {
  items(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id title version } }
    nodes { id title description version }
  }
}`;
const EXTERNAL_POSTS = gql`query Posts($limit: Int, $offset: Int, $userId: Int) {
  externalPosts(limit: $limit, offset: $offset, userId: $userId) { id userId title body author { id name username email } }
}`;
const EXTERNAL_POST = gql`query Post($id: ID!) { externalPost(id: $id) { id userId title body author { id name } } }`;
const CREATE = gql`mutation Create($input: CreateItemInput!) { createItem(input: $input) { ${ITEM_FIELDS} } }`;
const UPDATE = gql`mutation Update($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id title description version updatedAt } }`;
const DELETE = gql`mutation Delete($id: ID!) { deleteItem(id: $id) }`;
const ENRICH = gql`mutation Enrich($id: ID!, $postId: ID) { enrichItem(id: $id, postId: $postId) { ${ITEM_FIELDS} } }`;
const EVENTS = gql`subscription Events { itemEvents { type id item { id title version } } }`;

/** extensions.code of every GraphQL error in err. */
function codes(err) {
  assert.ok(CombinedGraphQLErrors.is(err), `want GraphQL errors, got ${err}`);
  return err.errors.map((e) => e.extensions?.code);
}

export function apolloSuite(env) {
  describe('Apollo Client', () => {
    let client;
    before(() => {
      client = new ApolloClient({
        link: new HttpLink({ uri: env.server.graphqlURL }),
        cache: new InMemoryCache(),
      });
    });
    after(() => client.stop());

    it('creates, reads, lists, updates, enriches and deletes an item', async () => {
      const title = uniqueTitle('apollo crud');
      const { data: created } = await client.mutate({ mutation: CREATE, variables: { input: { title: `  ${title}  `, description: 'made by Apollo' } } });
      const item = created.createItem;
      assert.match(item.id, /^[1-9][0-9]*$/);
      assert.equal(item.title, title, 'title is trimmed');
      assert.equal(item.version, 1);
      assert.equal(item.externalData, null);
      assert.match(item.createdAt, /Z$/);

      const { data: got } = await client.query({ query: ITEM, variables: { id: item.id }, fetchPolicy: 'network-only' });
      assert.equal(got.item.title, title);
      assert.equal(got.item.description, 'made by Apollo');

      const { data: listed } = await client.query({ query: ITEMS, variables: { first: 5, filter: { search: title } }, fetchPolicy: 'network-only' });
      assert.equal(listed.items.totalCount, 1);
      assert.deepEqual(listed.items.nodes.map((n) => n.id), [item.id]);
      assert.equal(listed.items.edges[0].node.id, item.id);
      assert.equal(listed.items.pageInfo.hasNextPage, false);

      const { data: updated } = await client.mutate({ mutation: UPDATE, variables: { id: item.id, input: { description: null, expectedVersion: 1 } } });
      assert.equal(updated.updateItem.description, null, 'description: null clears it');
      assert.equal(updated.updateItem.title, title, 'omitted title is left alone');
      assert.equal(updated.updateItem.version, 2);

      const { data: enriched } = await client.mutate({ mutation: ENRICH, variables: { id: item.id, postId: '3' } });
      assert.equal(enriched.enrichItem.version, 3);
      assert.equal(enriched.enrichItem.externalData.id, 3);
      assert.equal(enriched.enrichItem.externalPost.id, '3');
      assert.ok(enriched.enrichItem.externalPost.author.name);
      assert.ok(enriched.enrichItem.enrichedAt);

      const { data: deleted } = await client.mutate({ mutation: DELETE, variables: { id: item.id } });
      assert.equal(deleted.deleteItem, item.id);
      const { data: gone } = await client.query({ query: ITEM, variables: { id: item.id }, fetchPolicy: 'network-only' });
      assert.equal(gone.item, null, 'a deleted item reads as null, without an error');
    });

    it('pages through items with cursors', async () => {
      const prefix = uniqueTitle('apollo page');
      for (let i = 0; i < 3; i++) {
        await client.mutate({ mutation: CREATE, variables: { input: { title: `${prefix} ${i}` } } });
      }
      const variables = { first: 2, filter: { search: prefix }, orderBy: { field: 'TITLE', direction: 'ASC' } };
      const { data: p1 } = await client.query({ query: ITEMS, variables, fetchPolicy: 'network-only' });
      assert.equal(p1.items.totalCount, 3);
      assert.deepEqual(p1.items.nodes.map((n) => n.title), [`${prefix} 0`, `${prefix} 1`]);
      assert.equal(p1.items.pageInfo.hasNextPage, true);
      const { data: p2 } = await client.query({ query: ITEMS, variables: { ...variables, after: p1.items.pageInfo.endCursor }, fetchPolicy: 'network-only' });
      assert.deepEqual(p2.items.nodes.map((n) => n.title), [`${prefix} 2`]);
      assert.equal(p2.items.pageInfo.hasNextPage, false);
    });

    it('reads external posts with their authors', async () => {
      const { data } = await client.query({ query: EXTERNAL_POSTS, variables: { limit: 3, offset: 1 } });
      assert.deepEqual(data.externalPosts.map((p) => p.id), ['2', '3', '4']);
      for (const p of data.externalPosts) {
        assert.equal(typeof p.userId, 'number');
        assert.equal(p.author.id, String(p.userId));
      }
      const { data: one } = await client.query({ query: EXTERNAL_POST, variables: { id: '5' } });
      assert.equal(one.externalPost.id, '5');
      assert.ok(one.externalPost.author.name);
      const { data: none } = await client.query({ query: EXTERNAL_POST, variables: { id: '99999' } });
      assert.equal(none.externalPost, null, 'a post the upstream does not have is null');
    });

    it('shows an update in a list fetched before, from the normalized cache', async () => {
      const prefix = uniqueTitle('apollo cache');
      const { data: c } = await client.mutate({ mutation: CREATE, variables: { input: { title: `${prefix} before` } } });
      const variables = { first: 5, filter: { search: prefix } };
      const { data: list } = await client.query({ query: ITEMS, variables, fetchPolicy: 'network-only' });
      assert.deepEqual(list.items.nodes.map((n) => n.title), [`${prefix} before`]);

      let requests = 0;
      const counting = new ApolloLink((op, forward) => { requests++; return forward(op); });
      // The same cache, a link that counts: reading the list again must not
      // reach the network.
      client.setLink(counting.concat(new HttpLink({ uri: env.server.graphqlURL })));
      await client.mutate({ mutation: UPDATE, variables: { id: c.createItem.id, input: { title: `${prefix} after` } } });
      assert.equal(requests, 1, 'one request: the mutation');
      const { data: again } = await client.query({ query: ITEMS, variables, fetchPolicy: 'cache-only' });
      assert.deepEqual(again.items.nodes.map((n) => n.title), [`${prefix} after`]);
      assert.equal(again.items.nodes[0].version, 2);
      assert.equal(requests, 1, 'the list came from the cache');
    });

    it('delivers errors with extensions.code', async () => {
      const cases = [
        { name: 'blank title', mutation: CREATE, variables: { input: { title: '   ' } }, code: 'BAD_USER_INPUT', field: 'title' },
        { name: 'title: null on update', mutation: UPDATE, variables: { id: '1', input: { title: null } }, code: 'BAD_USER_INPUT' },
        { name: 'update of a missing item', mutation: UPDATE, variables: { id: '987654321', input: { title: 'x' } }, code: 'NOT_FOUND' },
        { name: 'delete of a missing item', mutation: DELETE, variables: { id: '987654321' }, code: 'NOT_FOUND' },
        { name: 'enrich of a missing item', mutation: ENRICH, variables: { id: '987654321' }, code: 'NOT_FOUND' },
        { name: 'bad id', mutation: DELETE, variables: { id: '-4' }, code: 'BAD_USER_INPUT' },
      ];
      for (const tt of cases) {
        await assert.rejects(client.mutate({ mutation: tt.mutation, variables: tt.variables }), (err) => {
          assert.deepEqual(codes(err), [tt.code], tt.name);
          if (tt.field) {
            assert.equal(err.errors[0].extensions.field, tt.field, tt.name);
          }
          return true;
        }, tt.name);
      }

      const { data: c } = await client.mutate({ mutation: CREATE, variables: { input: { title: uniqueTitle('apollo conflict') } } });
      await assert.rejects(client.mutate({ mutation: UPDATE, variables: { id: c.createItem.id, input: { title: 'late', expectedVersion: 7 } } }), (err) => {
        assert.deepEqual(codes(err), ['CONFLICT']);
        assert.equal(err.errors[0].extensions.currentVersion, 1);
        return true;
      });

      const { data: e } = await client.mutate({ mutation: CREATE, variables: { input: { title: uniqueTitle('apollo upstream 404') } } });
      await assert.rejects(client.mutate({ mutation: ENRICH, variables: { id: e.createItem.id, postId: '99999' } }), (err) => {
        assert.deepEqual(codes(err), ['NOT_FOUND']);
        assert.equal(err.errors[0].extensions.source, 'external');
        return true;
      });

      await assert.rejects(client.query({ query: gql`{ items { nodes { nope } } }` }), (err) => {
        assert.deepEqual(codes(err), ['GRAPHQL_VALIDATION_FAILED']);
        return true;
      });
      await assert.rejects(client.query({ query: gql`{ items(first: 101) { totalCount } }` }), (err) => {
        assert.deepEqual(codes(err), ['BAD_USER_INPUT']);
        assert.equal(err.errors[0].extensions.field, 'first');
        return true;
      });
      // 100 nodes of a query that asks 100 posts each: refused before any
      // resolver runs.
      await assert.rejects(client.query({ query: gql`{ items(first: 100) { nodes { id title description version externalPost { id } } } externalPosts(limit: 100) { id title body author { name email } } }` }), (err) => {
        assert.deepEqual(codes(err), ['COMPLEXITY_LIMIT_EXCEEDED']);
        return true;
      });
    });

    it('receives the events of mutations over graphql-ws', async () => {
      let wsClient;
      const connected = new Promise((resolve) => {
        wsClient = createClient({ url: env.server.wsURL, webSocketImpl: WebSocket, lazy: false, on: { connected: resolve } });
      });
      const subClient = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });
      const got = new Collector();
      const sub = subClient.subscribe({ query: EVENTS }).subscribe({
        next: (r) => (r.error ? got.fail(r.error) : got.push(r.data.itemEvents)),
        error: (e) => got.fail(e),
      });
      try {
        await connected;
        // The server registers the subscription after it answers
        // connection_ack; a mutation right then could be missed, so keep
        // creating until the first event shows the subscription is live.
        const title = uniqueTitle('apollo events');
        let id;
        for (let i = 0; i < 50 && !got.values.length; i++) {
          const { data } = await client.mutate({ mutation: CREATE, variables: { input: { title } } });
          id ??= data.createItem.id;
          await new Promise((r) => setTimeout(r, 100));
        }
        const first = await got.until((v) => v.length > 0);
        const live = first.find((ev) => ev.item?.title === title);
        assert.ok(live, `an event of the created item, got ${JSON.stringify(first)}`);
        await client.mutate({ mutation: UPDATE, variables: { id: live.id, input: { title: `${title} renamed` } } });
        await client.mutate({ mutation: DELETE, variables: { id: live.id } });
        const events = await got.until((v) => v.some((ev) => ev.id === live.id && ev.type === 'DELETED'));
        const mine = events.filter((ev) => ev.id === live.id).map((ev) => ev.type);
        assert.deepEqual(mine, ['CREATED', 'UPDATED', 'DELETED'], 'events in commit order');
        const updated = events.find((ev) => ev.id === live.id && ev.type === 'UPDATED');
        assert.equal(updated.item.title, `${title} renamed`);
        assert.equal(events.find((ev) => ev.id === live.id && ev.type === 'DELETED').item, null, 'item is null for DELETED');
      } finally {
        sub.unsubscribe();
        subClient.stop();
        await wsClient.dispose();
      }
    });

    it('serves Automatic Persisted Queries: the second request sends only the hash', async () => {
      const bodies = [];
      const recordingFetch = async (url, init) => {
        bodies.push(init.body ? JSON.parse(init.body) : Object.fromEntries(new URL(url).searchParams));
        return fetch(url, init);
      };
      const apq = new ApolloClient({
        link: createPersistedQueryLink({ sha256: (q) => createHash('sha256').update(q).digest('hex') })
          .concat(new HttpLink({ uri: env.server.graphqlURL, fetch: recordingFetch })),
        cache: new InMemoryCache(),
      });
      try {
        const query = gql`query PersistedPosts { externalPosts(limit: 1) { id title } }`;
        const { data: first } = await apq.query({ query, fetchPolicy: 'network-only' });
        assert.equal(first.externalPosts[0].id, '1');
        // First: the hash alone, which the server does not know yet; then
        // the hash with the query, which registers it.
        assert.equal(bodies.length, 2, JSON.stringify(bodies));
        assert.equal(bodies[0].query, undefined);
        assert.ok(bodies[0].extensions.persistedQuery.sha256Hash);
        assert.ok(bodies[1].query.includes('PersistedPosts'));

        const { data: second } = await apq.query({ query, fetchPolicy: 'network-only' });
        assert.deepEqual(second, first);
        assert.equal(bodies.length, 3);
        assert.equal(bodies[2].query, undefined, 'the second run sends only the hash');
        assert.equal(bodies[2].extensions.persistedQuery.sha256Hash, bodies[0].extensions.persistedQuery.sha256Hash);
      } finally {
        apq.stop();
      }
    });
  });
}
