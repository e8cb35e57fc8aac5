/**
 * The real webhook process under load, then SIGTERM: readiness turns off first, requests in
 * flight finish, and the process exits 0. The load stops sending new requests once readiness
 * fails, as the Service does when the pod leaves its endpoints; every request sent must get a
 * valid answer. Once as the image runs it (the bundle on Node 24), and once from the sources
 * on Node 24, as a developer runs them.
 * Everything runs on 127.0.0.1, bounded in count and time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { FIXTURES } from '../helpers/webhook.ts';
import { httpsCall as post, runtimes, startWebhookProcess } from '../helpers/webhook-process.ts';

const shutdown = suite('webhook process: SIGTERM under load');
const MAX_REQUESTS = 5000;
/** How long the webhook keeps serving after SIGTERM, and how long after readiness fails the load goes on. */
const SHUTDOWN_DELAY_MS = 2500;
const SENDING_LAG_MS = 1000;

for (const runtime of runtimes()) {
  shutdown(`${runtime.name}: requests in flight at SIGTERM finish; none sent before readiness fails is lost`, async () => {
    const webhook = await startWebhookProcess(runtime, { shutdownDelayMs: SHUTDOWN_DELAY_MS });
    const { port, child } = webhook;
    try {
      const agent = new Agent({ ca: webhook.ca, keepAlive: true, maxSockets: 8 });
      const probe = new Agent({ ca: webhook.ca });
      const body = readFileSync(join(FIXTURES, 'create-several-containers', 'review.json'), 'utf8');
      let sent = 0;
      let stopSending = false;
      const failures: string[] = [];
      let signalled = false;
      const worker = async () => {
        while (!stopSending && sent < MAX_REQUESTS) {
          sent++;
          try {
            const { status, text } = await post(agent, port, '/mutate', body);
            const answer = JSON.parse(text);
            if (status !== 200 || answer.response?.allowed !== true || !answer.response.patch) failures.push(`${status} ${text.slice(0, 200)}`);
          } catch (err) {
            failures.push(String(err));
          }
          if (sent >= 300 && !signalled) {
            signalled = true;
            child.kill('SIGTERM');
          }
        }
      };
      // The Service's view: requests keep coming, on kept-alive connections too, for a while
      // after readiness fails (endpoint removal takes time to reach every node), then stop.
      // The webhook waits SHUTDOWN_DELAY_MS before closing; the lag here is shorter, with room
      // to spare for a busy CI machine.
      let notReadySince = 0;
      const watchReadiness = async () => {
        while (!stopSending) {
          const status = (await post(probe, port, '/readyz').catch(() => ({ status: 0 }))).status;
          if (signalled && status !== 200 && !notReadySince) notReadySince = Date.now();
          if ((notReadySince && Date.now() - notReadySince > SENDING_LAG_MS) || sent >= MAX_REQUESTS) stopSending = true;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await Promise.all([watchReadiness(), ...Array.from({ length: 8 }, worker)]);
      agent.destroy();
      probe.destroy();

      assert.ok(signalled, 'SIGTERM was never sent');
      assert.ok(notReadySince, 'readiness never turned off after SIGTERM');
      assert.equal(failures, [], `${failures.length} of ${sent} requests failed`);
      assert.ok(sent >= 300, `only ${sent} requests`);
      assert.is(await webhook.exited, 0, `exit code; stderr: ${webhook.stderr()}`);
    } finally {
      await webhook.close();
    }
  });
}

shutdown.run();
