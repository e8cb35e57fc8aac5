/**
 * The dispatcher process as the image runs it (its bundle on Node 24), against the real API
 * server with Knative's CRDs and the Knative stand-in: two processes share one cold model, a
 * SIGTERM drains a stream in flight, and a changed ConfigMap is applied while a bad one is
 * refused without a restart.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { startDispatcherProcess, type DispatcherProcess } from '../helpers/dispatcher/dispatcher-process.ts';
import { dispatcherValues } from '../helpers/dispatcher/dispatcher-under-test.ts';
import { dispatcherTestBed, TEST_BED_RESOURCES, type TestBed } from '../helpers/dispatcher/test-bed.ts';
import { MODEL_ID_ANNOTATION } from '../../dispatcher/src/knative/service-spec.ts';

interface Context extends TestBed {
  processes: DispatcherProcess[];
}

const process_ = suite<Context>('dispatcher process: two replicas, SIGTERM, configuration reload', {} as Context);

process_.before(async (context) => {
  // Slow enough that a stream is still running when SIGTERM comes.
  Object.assign(context, await dispatcherTestBed('dispatcher-process', { chunks: 20, intervalMs: 50 }));
  context.processes = [];
});

process_.after(async (context) => {
  await Promise.all((context.processes ?? []).map((p) => p.close()));
  await context.remove?.();
});

const VALUES = () => dispatcherValues({ gpuResources: TEST_BED_RESOURCES, readyTimeoutSeconds: 20 });

async function start(context: Context, instance: string, values = VALUES()): Promise<DispatcherProcess> {
  const started = await startDispatcherProcess({ kubeconfig: context.cluster.kubeconfig, namespace: context.namespace.name, instance, values });
  context.processes.push(started);
  return started;
}

const chat = (url: string, model: string, stream = false) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }) });

process_('two dispatcher processes, 40 concurrent requests for one cold model: all answered, one Service', async (context) => {
  const [a, b] = [await start(context, 'two'), await start(context, 'two')];
  const model = 'Qwen/Qwen2.5-0.5B-Instruct';
  const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i % 2 ? a.url : b.url, model).then((res) => res.status)));
  assert.equal([...new Set(statuses)], [200]);
  const listed = await context.cluster.request('GET', `/apis/serving.knative.dev/v1/namespaces/${context.namespace.name}/services`);
  assert.is(listed.body.items.filter((s: any) => s.metadata.annotations[MODEL_ID_ANNOTATION] === model).length, 1);
});

process_('SIGTERM while a stream runs: the stream finishes whole, then the process exits 0', async (context) => {
  const d = await start(context, 'drain');
  const model = 'Qwen/Qwen2.5-1.5B-Instruct';
  assert.is((await chat(d.url, model)).status, 200, 'the model is warm');
  const res = await chat(d.url, model, true);
  assert.is(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.ok(first.value && first.value.length > 0, 'the stream began');
  d.child.kill('SIGTERM');
  let text = new TextDecoder().decode(first.value);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), `the stream was cut: ${text.slice(-200)}`);
  assert.is(await d.exited, 0);
});

process_('a changed ConfigMap applies without a restart; a bad one is refused and the old one stays', async (context) => {
  const d = await start(context, 'reload');
  const ssis = () =>
    fetch(`${d.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'hi', par: {}, env: { MODEL_ID: 'Qwen/Qwen2.5-0.5B-Instruct', QUANTIZE: 'awq' } }) });
  const before = await ssis();
  assert.is(before.status, 400);
  assert.match(((await before.json()) as any).error, /QUANTIZE/);
  d.writeConfig('limits: [this is not a map\n');
  const deadline = Date.now() + 10_000;
  while (!d.logs().includes('new configuration refused') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(d.logs().includes('new configuration refused'), d.logs().slice(-2000));
  assert.is((await ssis()).status, 400, 'the old configuration stays');
  const values = VALUES();
  d.writeConfig(stringify({ ...values, env: { ...values.env, allowed: [...(values.env.allowed ?? []), 'QUANTIZE'] } }));
  while (!d.logs().includes('configuration reloaded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(d.logs().includes('configuration reloaded'), d.logs().slice(-2000));
  assert.is.not((await ssis()).status, 400, 'QUANTIZE is now allowed');
  assert.is(d.child.exitCode, null, 'still running');
});

process_.run();
