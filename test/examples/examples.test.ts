import { createMemoryAuditSink } from '../../lib/index.js';
import { createApp } from '../../examples/existing-app.js';
import { startDemo } from '../../examples/demo/run-demo.js';
import { closeServers, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE } from '../helpers/test-issuer.js';

afterAll(closeServers);

test('the README example: a user with the mapped role gets an answer, others a clear refusal', async () => {
  const idp = await createTestIssuer();
  try {
    const agent = await serve(
      createApp({
        issuer: idp.issuer,
        audience: TEST_AUDIENCE,
        jwksUri: idp.jwksUri,
        mapping: { role_mapping: { 'Sales-Team': 'sales_readonly' } },
        audit: createMemoryAuditSink(),
      }),
    );
    const alice = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ groups: ['Sales-Team'] })}`)
      .send({ question: 'open orders?' });
    expect(alice.body).toEqual({ user: 'alice', answer: 'Alice Example asked: open orders?' });
    const bob = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ groups: ['Support'] })}`)
      .send({ question: 'open orders?' });
    expect(bob.status).toBe(403);
  } finally {
    await idp.close();
  }
});

test('the demo plays to the end: row-level security as each user, refusals, no exfiltration', async () => {
  const demo = await startDemo();
  try {
    const steps = await demo.run();
    expect(steps.map((step) => [step.status, step.body['code'] ?? 'ok'])).toEqual([
      [200, 'ok'],
      [200, 'ok'],
      [403, 'service_account_refused'],
      [401, 'token_signature_invalid'],
      [200, 'ok'],
      [200, 'ok'],
      [200, 'ok'],
      [422, 'sql_failed'],
      [200, 'ok'],
      [403, 'sql_refused'],
    ]);
    // The same question, different rows: PostgreSQL's policies applied to each person.
    const items = (index: number) =>
      (steps[index]?.body['rows'] as { item: string }[]).map((row) => row.item);
    expect(items(0)).toEqual(['Laptop', 'Dock']);
    expect(items(1)).toEqual(['Standing desk']);
    expect(steps[4]?.body['answer']).toMatch(/Refused to call .*upstream_not_allowed/);
    expect(demo.attackerHits()).toBe(0);
    const reads = demo.audit.filter((event) => event.action === 'dreamfactory.read');
    expect(reads.map((event) => [event.user, event.records_returned, event.outcome])).toEqual([
      ['alice', 2, 'allowed'],
      ['bob', 1, 'allowed'],
    ]);
    // The SQL agent: the same SQL text, each person's rows; card numbers only masked; the
    // injected set_config refused before it ran.
    expect(items(5)).toEqual(['Laptop', 'Dock', 'Mouse']);
    expect(items(6)).toEqual(['Standing desk']);
    expect(steps[7]?.body['message']).toMatch(/SQLSTATE 42501/);
    expect((steps[8]?.body['rows'] as { card: string }[]).map((row) => row.card)).toEqual(
      Array(3).fill('**** **** **** 1111'),
    );
    expect(steps[9]?.body['message']).toMatch(/set_config/);
    const statements = demo.audit.filter((event) => event.source === 'sql-agent');
    expect(
      statements.map((event) => [event.user, event.action, event.outcome, event.reason]),
    ).toEqual([
      ['alice', 'SELECT', 'allowed', 'ok'],
      ['bob', 'SELECT', 'allowed', 'ok'],
      ['alice', 'SELECT', 'denied', 'sql_failed'],
      ['alice', 'SELECT', 'allowed', 'ok'],
      ['alice', 'SQL', 'denied', 'sql_refused'],
    ]);
    expect(JSON.stringify(statements)).not.toContain('4111111111111111');
    expect(demo.audit.filter((event) => event.action === 'forward')).toEqual([
      expect.objectContaining({ user: 'alice', outcome: 'denied', reason: 'upstream_not_allowed' }),
    ]);
  } finally {
    await demo.close();
  }
}, 60_000);
