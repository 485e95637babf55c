// mailtrip web view: reads the JSON API under /api/v1/ and renders with textContent only
// (never innerHTML), so nothing from a message can run here. Message HTML is shown in a
// sandboxed iframe the server serves under a no-remote-content policy.
'use strict';

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
const mailbox = params.get('mailbox');
const messageId = location.pathname.startsWith('/messages/')
  ? decodeURIComponent(location.pathname.slice('/messages/'.length))
  : null;
let generation = null;

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.message || `${response.status} ${response.statusText}`);
  }
  return body;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(error) {
  const p = $('#error');
  p.textContent = String(error.message || error);
  p.hidden = false;
}

function addressText(a) {
  return a ? (a.name ? `${a.name} <${a.address}>` : a.address) : '';
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

function listUrl() {
  return mailbox ? `/?mailbox=${encodeURIComponent(mailbox)}` : '/';
}

async function loadMailboxes() {
  const { mailboxes } = await api('/api/v1/mailboxes');
  const total = mailboxes.reduce((n, m) => n + m.messages, 0);
  const item = (label, href, count, current) => {
    const link = el('a', { href, title: label }, el('span', {}, label), el('span', { className: 'badge' }, count));
    if (current) link.classList.add('current');
    return el('li', {}, link);
  };
  $('#mailboxes').replaceChildren(
    item('All mail', '/', total, !mailbox && !messageId),
    ...mailboxes.map((m) => item(m.address, `/?mailbox=${encodeURIComponent(m.address)}`, m.messages, m.address === mailbox)),
  );
}

async function loadList() {
  const query = new URLSearchParams({ limit: '500' });
  if (mailbox) query.set('mailbox', mailbox);
  const { total, messages } = await api(`/api/v1/messages?${query}`);
  $('#list-title').textContent = mailbox || 'All mail';
  $('#count').textContent = `${total} ${total === 1 ? 'message' : 'messages'}`;
  $('#empty').hidden = messages.length > 0;
  $('#messages').hidden = messages.length === 0;
  $('#purge').disabled = messages.length === 0;
  $('#messages tbody').replaceChildren(...messages.map((m) => {
    const href = `/messages/${encodeURIComponent(m.id)}`;
    const subject = el('a', { href, className: 'subject' }, m.subject || '(no subject)');
    const row = el('tr', { className: 'message' },
      el('td', { title: addressText(m.from) }, m.from ? (m.from.name || m.from.address) : ''),
      el('td', { title: m.to.map(addressText).join(', ') }, m.to.map((a) => a.address).join(', ') || m.delivered_to || ''),
      el('td', {}, subject, el('span', { className: 'snippet' }, m.snippet), m.attachments ? ' 📎' : ''),
      el('td', {}, when(m.received_at)));
    if (!m.flags.includes('\\Seen')) row.classList.add('unseen');
    row.dataset.id = m.id;
    row.addEventListener('click', (event) => {
      if (event.target.tagName !== 'A') location.href = href;
    });
    return row;
  }));
}

function selectTab(name) {
  for (const b of document.querySelectorAll('.tabs button')) {
    b.setAttribute('aria-selected', String(b.dataset.tab === name));
  }
  for (const p of document.querySelectorAll('.panel')) {
    p.hidden = p.dataset.panel !== name;
  }
}

async function showMessage(id) {
  const m = await api(`/api/v1/messages/${encodeURIComponent(id)}`);
  document.title = `${m.subject || '(no subject)'} — mailtrip`;
  $('#back').href = listUrl();
  $('#subject').textContent = m.subject || '(no subject)';
  const rows = [
    ['From', addressText(m.from)],
    ['To', m.to.map(addressText).join(', ')],
    ['Cc', m.cc.map(addressText).join(', ')],
    ['Date', m.date ? when(m.date) : ''],
    ['Received', when(m.received_at)],
    ['Delivered to', m.delivered_to || ''],
    ['Mailbox', `${m.mailbox} / ${m.folder}`],
    ['Size', `${m.size} bytes`],
  ].filter(([, value]) => value);
  $('#meta').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));

  const htmlTab = document.querySelector('.tabs [data-tab="html"]');
  if (m.html_url) {
    $('#html-body').src = m.html_url;
  } else {
    htmlTab.disabled = true;
  }
  $('#text-body').textContent = m.text;
  $('#headers tbody').replaceChildren(...m.headers.map((h) => el('tr', {}, el('td', {}, h.name), el('td', {}, h.value))));
  const safe = (url) => /^(https?:|mailto:)/i.test(url);
  $('#links').replaceChildren(...(m.links.length ? m.links.map((url) => el('li', {},
    safe(url) ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : url))
    : [el('li', { className: 'muted' }, 'No links.')]));
  $('#attachments').replaceChildren(...(m.attachments.length ? m.attachments.map((a) => el('li', {},
    el('a', { href: a.url, download: a.filename || 'attachment' }, a.filename || `attachment ${a.index + 1}`),
    ` ${a.content_type}, ${a.size} bytes${a.inline ? ', inline' : ''}`))
    : [el('li', { className: 'muted' }, 'No attachments.')]));
  document.querySelector('.tabs [data-tab="links"]').textContent = `Links (${m.links.length})`;
  document.querySelector('.tabs [data-tab="attachments"]').textContent = `Attachments (${m.attachments.length})`;
  for (const b of document.querySelectorAll('.tabs button')) {
    b.addEventListener('click', () => { if (!b.disabled) selectTab(b.dataset.tab); });
  }
  selectTab(m.html_url ? 'html' : 'text');
  $('#delete').addEventListener('click', async () => {
    try {
      await api(`/api/v1/messages/${encodeURIComponent(id)}`, { method: 'DELETE' });
      location.href = listUrl();
    } catch (error) {
      showError(error);
    }
  });
  const raw = await fetch(m.raw_url);
  $('#raw').textContent = await raw.text();
}

async function refresh() {
  await loadMailboxes();
  if (!messageId) await loadList();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Live updates: long-poll the store's change counter and reload when it moves.
async function live() {
  for (;;) {
    try {
      const query = generation === null ? '' : `?after=${generation}&wait=25s`;
      // (generation is null only when the first read failed.)
      const { generation: now } = await api(`/api/v1/changes${query}`);
      const changed = generation !== null && now !== generation;
      generation = now;
      $('#live').classList.remove('off');
      if (changed) {
        await sleep(150); // let a burst of deliveries settle into one reload
        await refresh();
      }
    } catch (error) {
      $('#live').classList.add('off');
      await sleep(2000);
    }
  }
}

async function start() {
  try {
    const info = await api('/api/v1/info');
    $('#server-info').textContent = `SMTP ${info.smtp} · IMAP ${info.imap}${info.catch_all ? ' · catch-all' : ''}`;
    $('#empty').textContent = `No mail yet. Point your app at smtp://${info.smtp} (any recipient).`;
  } catch (error) {
    showError(error);
  }
  $('#purge').addEventListener('click', async () => {
    const what = mailbox ? `every message to ${mailbox}` : 'every message in every mailbox';
    if (!confirm(`Delete ${what}?`)) return;
    try {
      const query = mailbox ? `?mailbox=${encodeURIComponent(mailbox)}` : '';
      await api(`/api/v1/messages${query}`, { method: 'DELETE' });
      await refresh();
    } catch (error) {
      showError(error);
    }
  });
  try {
    // The generation before loading: any change after it makes the live loop reload.
    ({ generation } = await api('/api/v1/changes'));
    if (messageId) {
      $('#message-view').hidden = false;
      await Promise.all([loadMailboxes(), showMessage(messageId)]);
    } else {
      $('#list-view').hidden = false;
      await refresh();
    }
  } catch (error) {
    showError(error);
  }
  live();
}

start();
