/**
 * The URL of an incoming HTTP request, parsed without throwing. `new URL('//', base)` throws
 * (`//` reads as a scheme-relative URL with no host), and a request line is whatever a peer sent:
 * an unparsable one must become a 404, not an exception in a request handler.
 */
export function requestUrl(rawUrl: string | undefined): URL {
  try {
    return new URL(rawUrl ?? '/', 'http://localhost');
  } catch {
    return new URL('http://localhost/');
  }
}
