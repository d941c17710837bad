import { createMemoryAuditSink } from '../../lib/index.js';
import { createApp } from '../../examples/existing-app.js';
import { startDemo } from '../../examples/quickstart.js';
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

test('the demo plays its scenario to the end with the expected outcome at each step', async () => {
  const demo = await startDemo();
  try {
    const steps = await demo.run();
    expect(steps.map((step) => [step.status, step.body['code'] ?? 'ok'])).toEqual([
      [200, 'ok'],
      [403, 'role_missing'],
      [403, 'service_account_refused'],
      [401, 'token_signature_invalid'],
      [403, 'api_key_refused'],
      [401, 'credentials_missing'],
    ]);
    expect(steps[0]?.body['answer']).toBe('Alice asked: What are my open orders?');
    const users = demo.audit.map((event) => event.user);
    expect(users).toContain('alice');
    expect(users).toContain('bob');
    expect(demo.audit.filter((event) => event.outcome === 'denied')).toHaveLength(5);
  } finally {
    await demo.close();
  }
});
