/**
 * The page's end of `/inspector/ws`: one WebSocket to the same origin (passing on `?token=`
 * from the page's URL), reconnected with a growing delay when it drops. Messages are handed
 * to `onMessage` parsed; `send` drops what cannot be sent rather than queueing it, because the
 * page re-sends its selection after every reconnect anyway.
 */

/** Reconnect delays in ms: 0.5 s doubling to 5 s. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 5000;

/**
 * @param {{
 *   onMessage: (message: import('./types.js').FeedServerMessage) => void,
 *   onStatus: (status: 'connecting' | 'open' | 'closed') => void,
 *   onOpen?: () => void,
 * }} handlers
 */
export function connectFeed({ onMessage, onStatus, onOpen }) {
  const token = new URLSearchParams(location.search).get('token');
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/inspector/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  /** @type {WebSocket | null} */
  let socket = null;
  let attempt = 0;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;

  function open() {
    onStatus('connecting');
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener('open', () => {
      attempt = 0;
      onStatus('open');
      onOpen?.();
    });
    ws.addEventListener('message', (event) => {
      /** @type {unknown} */
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        console.warn('inspector: ignoring a frame that is not JSON');
        return;
      }
      // The server's own feed format (../protocol.ts); the handler still reads it defensively.
      onMessage(/** @type {import('./types.js').FeedServerMessage} */ (message));
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      onStatus('closed');
      if (stopped) return;
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt++);
      retryTimer = setTimeout(open, delay);
    });
  }

  open();
  return {
    /** @param {import('./types.js').FeedClientMessage} message */
    send(message) {
      if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    },
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      socket?.close(1000);
    },
  };
}
