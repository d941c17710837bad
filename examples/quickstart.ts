// The demo: `npm run demo` plays a short scenario and exits; `npm run demo -- --serve` keeps the
// servers running and prints curl commands. Everything runs on 127.0.0.1; nothing external.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createMemoryAuditSink, type AuditEvent } from 'express-identity-passthrough';
import { createApp } from './existing-app.js';
import { b64urlJson, createLocalIssuer, LOCAL_AUDIENCE, type LocalIssuer } from './local-issuer.js';

/** One step of the scenario and what the AI backend answered. */
export interface DemoStep {
  readonly title: string;
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface Demo {
  readonly url: string;
  readonly issuer: LocalIssuer;
  readonly audit: readonly AuditEvent[];
  run(): Promise<DemoStep[]>;
  close(): Promise<void>;
}

/** The role mapping of the demo, in the shape data gateways use. */
export const DEMO_MAPPING = {
  claim_mapping: { groups: 'groups', department: 'department' },
  role_mapping: { 'Sales-Team': 'sales_readonly', 'Sales-Managers': 'sales_admin' },
};

export async function startDemo(): Promise<Demo> {
  const issuer = await createLocalIssuer();
  const audit = createMemoryAuditSink();
  const app = createApp({
    issuer: issuer.issuer,
    audience: LOCAL_AUDIENCE,
    jwksUri: issuer.jwksUri,
    mapping: DEMO_MAPPING,
    audit,
    source: 'ai-assistant',
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ai/chat`;

  async function ask(title: string, headers: Record<string, string>): Promise<DemoStep> {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ question: 'What are my open orders?' }),
    });
    return {
      title,
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  async function run(): Promise<DemoStep[]> {
    const alice = await issuer.sign({
      sub: 'u-alice',
      preferred_username: 'alice',
      name: 'Alice',
      groups: ['Sales-Team'],
    });
    const bob = await issuer.sign({
      sub: 'u-bob',
      preferred_username: 'bob',
      name: 'Bob',
      email: 'bob@example.com',
      groups: ['Support'],
    });
    const service = await issuer.sign({
      sub: 'reporting-bot@clients',
      gty: 'client-credentials',
      azp: 'reporting-bot',
      preferred_username: undefined,
      email: undefined,
      name: undefined,
      groups: ['Sales-Team'],
    });
    const [header, payload, signature] = alice.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const tampered = `${header}.${b64urlJson({ ...claims, groups: ['Sales-Managers'] })}.${signature}`;
    return [
      await ask('Alice (Sales-Team) asks the assistant', { authorization: `Bearer ${alice}` }),
      await ask('Bob (Support) asks the same question', { authorization: `Bearer ${bob}` }),
      await ask('A client-credentials service account asks', {
        authorization: `Bearer ${service}`,
      }),
      await ask("Alice's token, edited to claim Sales-Managers", {
        authorization: `Bearer ${tampered}`,
      }),
      await ask('An API key instead of a user token', { 'x-api-key': 'shared-app-key' }),
      await ask('No credential at all', {}),
    ];
  }

  return {
    url,
    issuer,
    audit: audit.events,
    run,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await issuer.close();
    },
  };
}

function printSteps(steps: readonly DemoStep[]): void {
  for (const step of steps) {
    const ok = step.status < 400;
    const outcome = ok
      ? String(step.body['answer'])
      : `${String(step.body['code'])}: ${String(step.body['message'])}`;
    console.log(`${ok ? '✔' : '✘'} ${step.title}\n    → ${step.status} ${outcome}`);
  }
}

function printAudit(events: readonly AuditEvent[]): void {
  console.log('\nAudit trail (one line per decision; the token itself is never logged):');
  for (const event of events) {
    const who = event.user ?? '(nobody)';
    console.log(
      `  ${event.timestamp}  ${who.padEnd(22)} ${event.action.padEnd(12)} ${event.outcome.padEnd(7)} ${event.reason}`,
    );
  }
}

async function main(): Promise<void> {
  const demo = await startDemo();
  console.log(`AI backend: ${demo.url}   token issuer (JWKS): ${demo.issuer.jwksUri}\n`);
  printSteps(await demo.run());
  printAudit(demo.audit);
  if (!process.argv.includes('--serve')) {
    await demo.close();
    return;
  }
  const token = await demo.issuer.sign(
    { sub: 'u-alice', preferred_username: 'alice', groups: ['Sales-Team'] },
    {},
  );
  console.log(`\nServing until Ctrl+C. Try:\n`);
  console.log(
    `  curl -s -X POST ${demo.url} -H 'content-type: application/json' \\\n    -H 'Authorization: Bearer ${token}' \\\n    -d '{"question":"What are my open orders?"}'\n`,
  );
  console.log(`  curl -s -X POST ${demo.url} -H 'X-API-Key: shared-app-key'\n`);
  process.once('SIGINT', () => void demo.close().then(() => process.exit(0)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
