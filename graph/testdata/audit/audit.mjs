// Runs every graphql-http server audit against the URL given as the first
// argument and prints the results as one JSON array on stdout.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
const results = [];
for (const audit of serverAudits({ url })) {
  const r = await audit.fn();
  results.push({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? '' });
}
process.stdout.write(JSON.stringify(results));
