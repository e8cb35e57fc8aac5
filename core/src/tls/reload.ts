/**
 * Keeps a Node https/tls server's certificate current without a restart and without dropping
 * connections: `server.setSecureContext` only affects handshakes that start afterwards, so open
 * connections finish on the old certificate and new ones get the new one (what Linkerd does with
 * GetCertificate; Pepr reads its certificate once and goes stale).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

export interface KeyAndCertificate {
  cert: string;
  key: string;
  /** Extra CA certificates; only needed for client-certificate verification. */
  ca?: string;
}

/**
 * Installs a new certificate for future handshakes. `setSecureContext` rebuilds the whole
 * context from what it is given and resets minVersion, ciphers and the rest, so pass the same
 * TLS options the server was created with as `base`.
 */
export function applySecureContext(server: TlsServer, pair: KeyAndCertificate, base: SecureContextOptions = {}): void {
  server.setSecureContext({ ...base, cert: pair.cert, key: pair.key, ...(pair.ca ? { ca: pair.ca } : {}) });
}

export interface WatchCertificateFilesOptions {
  certFile: string;
  keyFile: string;
  /** Called with the first readable pair and then on every change of either file. */
  onChange: (pair: KeyAndCertificate) => void;
  /** Unreadable files or a key that does not belong to the certificate; the old pair stays in use. */
  onError?: (err: unknown) => void;
  /** Default 10 s. The kubelet refreshes Secret volumes about once a minute, so this is plenty. */
  intervalMs?: number;
}

export interface CertificateFilesWatcher {
  /** Resolves after the first read attempt (whether or not it produced a pair). */
  ready: Promise<void>;
  /** Reads both files now; resolves to true if a new pair was delivered. */
  check(): Promise<boolean>;
  close(): void;
}

/**
 * Polls the content of a mounted Secret's files. Polling the content rather than fs.watch on the
 * files: the kubelet updates a Secret volume by re-pointing the `..data` symlink, which file
 * watches miss (they follow the old inode), and a hash of what is read is immune to that.
 * Each pair is checked with createSecureContext before it is handed over, so a half-written
 * pair (new certificate, old key) is skipped until both files agree.
 */
export function watchCertificateFiles(options: WatchCertificateFilesOptions): CertificateFilesWatcher {
  const interval = options.intervalMs ?? 10_000;
  let lastHash: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  async function check(): Promise<boolean> {
    let pair: KeyAndCertificate;
    try {
      const [cert, key] = await Promise.all([readFile(options.certFile, 'utf8'), readFile(options.keyFile, 'utf8')]);
      pair = { cert, key };
    } catch (err) {
      options.onError?.(err);
      return false;
    }
    const hash = createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
    if (closed || hash === lastHash) return false;
    // Remember even a bad pair, so it is reported once rather than on every poll.
    lastHash = hash;
    try {
      createSecureContext({ cert: pair.cert, key: pair.key });
    } catch (err) {
      options.onError?.(err);
      return false;
    }
    options.onChange(pair);
    return true;
  }

  async function tick(): Promise<void> {
    try {
      await check();
    } catch (err) {
      options.onError?.(err); // onChange threw: report it and keep watching
    }
    if (!closed) timer = setTimeout(tick, interval).unref();
  }

  return {
    ready: tick(),
    check,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
