import { createMemoryAuditSink, createPassthrough, dreamFactory } from '../../lib/index.js';
import { createIdentity } from '../../lib/core/identity.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

let df: RecordingUpstream;
beforeAll(async () => {
  df = await createRecordingUpstream();
});
afterAll(() => df.close());

const alice = createIdentity(
  {
    subject: 'u-alice',
    issuer: 'https://idp/',
    provider: 'jwt',
    kind: 'user',
    username: 'alice',
    groups: [],
    roles: [],
    scopes: [],
    attributes: {},
  },
  {
    type: 'bearer',
    value: 'user-token',
    audience: ['dreamfactory-api'],
    expiresAt: Math.floor(Date.now() / 1000) + 300,
  },
);

function helper() {
  const audit = createMemoryAuditSink();
  const passthrough = createPassthrough({
    upstreams: {
      df: {
        origin: df.origin,
        audience: 'dreamfactory-api',
        credentialHeader: 'X-DreamFactory-Session-Token',
      },
    },
    audit,
  });
  return {
    audit,
    client: dreamFactory({ fetch: passthrough.forIdentity(alice) }, { baseUrl: df.origin }),
  };
}

describe('dreamFactory().getRecords', () => {
  test('reads /api/v2/{service}/_table/{table} with filter, fields and limit, as the user', async () => {
    df.received.length = 0;
    df.respond((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"resource":[{"id":1},{"id":2}]}'),
    );
    const { audit, client } = helper();
    const rows = await client.getRecords('db', 'orders', {
      filter: "(status = 'open')",
      fields: ['id', 'item'],
      limit: 5,
      order: 'id desc',
    });
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
    const url = new URL(df.received[0]!.url, df.origin);
    expect(url.pathname).toBe('/api/v2/db/_table/orders');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      filter: "(status = 'open')",
      fields: 'id,item',
      limit: '5',
      order: 'id desc',
    });
    expect(df.received[0]?.headers['x-dreamfactory-session-token']).toBe('user-token');
    expect(audit.events[0]).toMatchObject({
      action: 'dreamfactory.read',
      records_returned: 2,
      filters: { filter: "(status = 'open')", fields: ['id', 'item'], limit: 5 },
    });
  });

  test("DreamFactory's own refusal reaches the agent as upstream_refused with its message", async () => {
    df.respond((_req, res) =>
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end('{"error":{"code":403,"message":"Access Forbidden."}}'),
    );
    await expect(helper().client.getRecords('db', 'orders')).rejects.toMatchObject({
      code: 'upstream_refused',
      message: 'DreamFactory refused the read for db/orders: Access Forbidden.',
    });
  });

  test.each([['..'], ['.'], ['a/b'], ['x?y'], ['']])(
    'the name %j is refused before any call',
    async (name) => {
      df.received.length = 0;
      await expect(helper().client.getRecords(name, 'orders')).rejects.toMatchObject({
        code: 'invalid_request',
      });
      await expect(helper().client.getRecords('db', name)).rejects.toMatchObject({
        code: 'invalid_request',
      });
      expect(df.received).toHaveLength(0);
    },
  );
});
