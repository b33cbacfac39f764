// Transport policy for CWM endpoints: a prompt carries the user's source code, so it must not cross the network in
// clear text. Plain http is accepted only to this machine (loopback) unless the user explicitly allows it.

/** The setting that lets plain http reach another machine. */
export const ALLOW_INSECURE_HTTP_SETTING = 'cwmDebug.allowInsecureHttp';

/** True for localhost, 127.0.0.0/8 and ::1 (also written as the IPv4-mapped ::ffff:127.x.y.z), as WHATWG URL hostnames. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost') return true;
  // The URL parser already turned every IPv4 spelling (127.1, 0x7f.0.0.1, 2130706433) into dotted decimal.
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (ipv4) return Number(ipv4[1]) === 127;
  if (host === '[::1]') return true;
  // IPv4-mapped loopback, which the parser writes in hex: [::ffff:7f00:1] ... [::ffff:7fff:ffff].
  return /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

/**
 * Why the endpoint at `url` must not be used, or undefined when it may be: plain http to a host that is not loopback is
 * refused unless `allowInsecureHttp`. A URL that does not parse is left to the endpoint client, which explains it.
 */
export function endpointTransportProblem(url: string, allowInsecureHttp: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' || allowInsecureHttp || isLoopbackHost(parsed.hostname)) return undefined;
  const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  return `The CWM endpoint ${shown} is plain http to another machine, so your source code would cross the network unencrypted. ` +
    `Use https, reach the server through an SSH tunnel on localhost, or set ${ALLOW_INSECURE_HTTP_SETTING} to true if you trust the network.`;
}
