// Placeholder canvas: logs in with the token from the login URL's fragment (never sent to the
// server in the URL), then lists workspaces with the session cookie.
const statusEl = document.getElementById('status');
const listEl = document.getElementById('workspaces');

async function login(token) {
  const r = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return r.ok;
}

async function show() {
  const m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (m) {
    history.replaceState(null, '', location.pathname);
    if (!(await login(decodeURIComponent(m[1])))) statusEl.textContent = 'That login link is not valid.';
  }
  const r = await fetch('/workspaces');
  if (r.status === 401) {
    statusEl.textContent = 'Not signed in: open the login URL the server printed at start.';
    return;
  }
  const rows = await r.json();
  statusEl.textContent = `Signed in. ${rows.length} workspace(s).`;
  for (const w of rows) {
    const li = document.createElement('li');
    li.textContent = `${w.name} (${w.runtime}, ${w.status})`;
    listEl.appendChild(li);
  }
}

show().catch(() => { statusEl.textContent = 'Could not reach the platform.'; });
