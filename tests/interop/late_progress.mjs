// The SDK runs notification handlers a microtask after response handlers, so a progress
// notification read in the same chunk as its response reaches the client after the
// request is settled and is reported as an error ("unknown token"). Keep those too, so
// that a test can tell "the server did not send it" from "the client dropped it".
export function trackLateProgress(client) {
  const late = [];
  client.onerror = (err) => {
    const m = /unknown token: (.*)$/s.exec(String(err?.message ?? err));
    if (m) late.push(JSON.parse(m[1]).params.progress);
  };
  return late;
}
