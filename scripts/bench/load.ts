// The load generator, in its own process: `node --import tsx load.ts <url> <tokens.json> <seconds> <connections>`.
// Cycles through the tokens (one repeated token, or more distinct ones than any cache holds)
// and prints autocannon's summary as one JSON line.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [url = '', tokenFile = '', seconds = '5', connections = '50'] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(tokenFile, 'utf8')) as string[];
let next = 0;

const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => {
        const token = tokens[next++ % tokens.length];
        return {
          ...request,
          headers: {
            ...request.headers,
            ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
          },
        };
      },
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  })}\n`,
);
