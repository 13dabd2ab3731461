// graphql-http's conformance audit of the GraphQL-over-HTTP spec: every MUST
// passes. SHOULD and MAY are reported but not required.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';

export function auditSuite(env) {
  describe('graphql-http audit', () => {
    // The audits are made up front (registering tests needs their names);
    // the URL is only known once the server runs.
    let url;
    before(() => { url = env.server.graphqlURL; });
    const audits = serverAudits({ url: () => url, fetchFn: fetch });
    const must = audits.filter((a) => a.name.startsWith('MUST'));
    it('has MUST audits', () => assert.ok(must.length > 10, `${must.length} MUST audits`));
    for (const audit of must) {
      it(audit.name, async () => {
        const result = await audit.fn();
        assert.equal(result.status, 'ok', `${result.reason ?? ''} ${JSON.stringify(result.response?.body ?? result.response ?? '')}`);
      });
    }
    it('reports SHOULD and MAY without requiring them', async (t) => {
      const rest = audits.filter((a) => !a.name.startsWith('MUST'));
      let failed = 0;
      for (const a of rest) {
        const result = await a.fn();
        if (result.status !== 'ok') {
          failed++;
          t.diagnostic(`${result.status}: ${a.name}: ${result.reason}`);
        }
        // Only a MUST may end in "error"; anything else is a warning.
        assert.notEqual(result.status, 'error', a.name);
      }
      t.diagnostic(`${rest.length - failed} of ${rest.length} SHOULD/MAY audits pass`);
    });
  });
}
