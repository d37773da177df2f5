// The dashboard page: loads /api/status, then applies /api/events live.
// File names are untrusted: every piece of text goes in through
// textContent or a dataset value, never innerHTML, and is shown through
// visible(), which escapes controls and invisible format characters.
'use strict';

const BADGES = {
  synced: '✓', syncing: '⟳', pending: '…', conflict: '⚠', error: '✗', deleted: '–', ignored_here: '○',
};

// Controls (Cc), format characters (Cf: bidi overrides such as U+202E that
// make 'exe.txt' read as 'txt.exe', zero-width characters, BOMs) and line or
// paragraph separators, shown as \u{...} like `companion status` does.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function visible(text) {
  return String(text).replace(HIDDEN, (c) => '\\u{' + c.codePointAt(0).toString(16) + '}');
}
const projects = new Map(); // project id -> { rows: Map(path -> row parts), folder parts }
let main;
let conn;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = visible(text);
  return e;
}

function badgeText(state, percent) {
  if (state === 'syncing') return BADGES.syncing + ' ' + Math.floor(percent) + '%';
  return (BADGES[state] || '?') + ' ' + String(state).replace('_', ' ');
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? n + ' B' : v.toFixed(1) + ' ' + units[u];
}

function duration(s) {
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
}

function fileRow(f) {
  const tr = el('tr', 'file');
  const parts = {
    tr,
    badge: el('td', 'badge'),
    bar: el('progress'),
    pct: el('td', 'pct'),
    path: el('td', 'path', f.path),
    size: el('td', 'size'),
    error: el('td', 'error'),
  };
  parts.bar.max = 100;
  const barCell = el('td');
  barCell.append(parts.bar);
  tr.append(parts.badge, barCell, parts.pct, parts.path, parts.size, parts.error);
  tr.dataset.path = f.path;
  updateRow(parts, f);
  return parts;
}

function updateRow(parts, f) {
  parts.tr.className = 'file ' + f.state;
  parts.tr.dataset.state = f.state;
  parts.tr.dataset.percent = String(f.percent);
  parts.badge.textContent = badgeText(f.state, f.percent);
  parts.bar.value = f.percent;
  parts.pct.textContent = f.state === 'ignored_here' ? '' : f.percent.toFixed(1) + '%';
  if (f.size !== undefined) parts.size.textContent = bytes(f.size);
  parts.error.textContent = visible(f.error || '');
  // Live badge news carries no links: keep the ones the status gave.
  if ('conflict_copies' in f || 'conflict_copy_of' in f || 'conflict_version' in f || !parts.related) {
    related(parts, f);
  }
}

// A file's link to its conflict family (and, on a member's row, which of
// the owner's versions they hold), as one short line under the path.
function related(parts, f) {
  let text = '';
  if (f.conflict_copy_of) {
    text = 'conflict copy of ' + f.conflict_copy_of;
  } else if (f.conflict_copies && f.conflict_copies.length) {
    const more = f.conflict_copies.length > 1 ? ' (and ' + (f.conflict_copies.length - 1) + ' more)' : '';
    text = 'conflicting copy: ' + f.conflict_copies[0] + more;
  }
  if (f.conflict_version) text += (text ? ' · ' : '') + f.conflict_version.says;
  if (!parts.related) {
    parts.related = el('div', 'related');
    parts.path.append(parts.related);
  }
  parts.related.textContent = visible(text);
}

function table(headers) {
  const t = el('table');
  const head = el('tr');
  for (const h of headers) head.append(el('th', null, h));
  t.append(head);
  return t;
}

function folderLine(p) {
  const line = el('div', 'folder');
  const bar = el('progress');
  bar.max = 100;
  const pct = el('span', 'folder-pct');
  const eta = el('span', 'eta');
  const err = el('span', 'folder-error');
  line.append(bar, pct, eta, err);
  const parts = { bar, pct, eta, err };
  updateFolder(parts, { percent: p.percent, eta_s: p.eta_s, rate_bps: p.rate_bps, folder_error: p.folder_error });
  return { line, parts };
}

function updateFolder(parts, f) {
  parts.bar.value = f.percent;
  parts.pct.textContent = f.percent.toFixed(1) + '%';
  let eta = '';
  if (f.rate_bps) eta += bytes(Math.round(f.rate_bps)) + '/s';
  if (f.eta_s !== undefined && f.eta_s !== null) eta += (eta ? ' · ' : '') + 'ETA ' + duration(f.eta_s);
  parts.eta.textContent = eta;
  parts.err.textContent = f.folder_error ? 'Syncthing stopped the folder: ' + visible(f.folder_error) : '';
}

function renderProject(p) {
  const section = el('section', 'project');
  section.dataset.project = p.project_id;
  section.append(el('h2', null, p.name));
  const meta = el('div', 'meta', p.role + ' · Syncthing folder ' + p.folder_id + ' · event ' + p.last_seq);
  if (p.status !== 'active') meta.append(' · ', el('span', 'revoked', p.status));
  section.append(meta);
  const folder = folderLine(p);
  section.append(folder.line);
  const rows = new Map();
  const files = table(['badge', 'progress', '%', 'file', 'size', 'message']);
  files.classList.add('files');
  for (const f of p.files) {
    const parts = fileRow(f);
    rows.set(f.path, parts);
    files.append(parts.tr);
  }
  section.append(files);
  for (const m of p.members || []) {
    const h = el('h3', 'member', 'Member ' + m.name + ' — ' + m.percent.toFixed(1) + '%');
    const t = table(['badge', 'progress', '%', 'file', 'reported', 'message']);
    t.classList.add('member-files');
    t.dataset.member = m.user_id;
    for (const f of m.files) {
      const parts = fileRow(f);
      parts.size.textContent = f.reported_at;
      t.append(parts.tr);
    }
    section.append(h, t);
  }
  projects.set(p.project_id, { rows, folder: folder.parts, role: p.role });
  return section;
}

async function load() {
  try {
    const response = await fetch('/api/status', { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) throw new Error('status ' + response.status);
    const report = await response.json();
    projects.clear();
    main.replaceChildren(...report.projects.map(renderProject));
    if (report.projects.length === 0) main.append(el('p', null, 'No projects yet.'));
  } catch (e) {
    conn.textContent = 'cannot load: ' + e.message;
    conn.className = 'conn down';
  }
}

function apply(update) {
  const project = projects.get(update.project_id);
  if (!project) return load();
  switch (update.kind) {
    case 'files':
      for (const f of update.files) {
        const parts = project.rows.get(f.path);
        if (!parts) return load(); // a new file: redraw the project
        updateRow(parts, f);
      }
      break;
    case 'folder':
      updateFolder(project.folder, update.folder);
      break;
    default:
      // Members and project changes: redraw from the server's state.
      load();
  }
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'conn live';
    load(); // whatever happened while we were away
  });
  events.addEventListener('update', (e) => apply(JSON.parse(e.data)));
  events.addEventListener('reload', () => load());
  events.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn down';
  });
}

document.addEventListener('DOMContentLoaded', () => {
  main = document.getElementById('projects');
  conn = document.getElementById('conn');
  load();
  connect();
});
