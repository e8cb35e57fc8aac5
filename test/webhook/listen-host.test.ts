/**
 * Where the process listens (core/src/http/listen-host.ts). The probe is replaced here: the tests
 * listen on loopback only, so '::' itself is never bound; its one real use binds '::1'.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bindProbe, listenHost } from '#core/http/listen-host.ts';

const host = suite('webhook listen host');

host('HOST unset: IPv6 and IPv4 on "::" where the host has IPv6', async () => {
  const probed: string[] = [];
  const chosen = await listenHost(undefined, async (h) => {
    probed.push(h);
    return undefined;
  });
  assert.is(chosen.host, '::');
  assert.equal(probed, ['::']);
});

host('HOST unset on a host without IPv6: falls back to 0.0.0.0', async () => {
  for (const code of ['EAFNOSUPPORT', 'EADDRNOTAVAIL']) {
    const chosen = await listenHost(undefined, async () => code);
    assert.is(chosen.host, '0.0.0.0', code);
    assert.match(chosen.why, code);
  }
  // Another failure is not a missing IPv6: '::' is kept, and listening reports the real error.
  assert.is((await listenHost(undefined, async () => 'EACCES')).host, '::');
});

host('HOST set (the tests, or a site that wants one family): used as given, nothing probed', async () => {
  const chosen = await listenHost('127.0.0.1', async () => {
    assert.unreachable('probed');
    return undefined;
  });
  assert.is(chosen.host, '127.0.0.1');
});

host('the probe binds and releases a free port, and reports a failure by its code', async () => {
  assert.is(await bindProbe('127.0.0.1'), undefined);
  assert.is(await bindProbe('192.0.2.1'), 'EADDRNOTAVAIL'); // TEST-NET-1: never a local address
});

host.run();
