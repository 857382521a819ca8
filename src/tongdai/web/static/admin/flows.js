// Call flows: the versions with their status (paged), a YAML/JSON editor, Validate (problems and warnings),
// Save as draft and Activate.
import { api } from '../shared/net.js';
import { el, say, showError } from './form.js';
import { t } from './strings.js';

const PAGE = 20;
const state = { offset: 0, selected: null };

function results(box, report) {
  const parts = [el('strong', { textContent: report.valid ? t('valid') : t('problems') })];
  if (!report.valid) parts.push(el('ul', { className: 'problems' }, ...report.problems.map((p) => el('li', { textContent: p }))));
  if (report.warnings.length) {
    parts.push(el('p', { textContent: t('warnings') }), el('ul', { className: 'warnings' }, ...report.warnings.map((w) => el('li', { textContent: w }))));
  }
  box.replaceChildren(...parts);
  box.className = report.valid ? 'ok' : 'error';
  box.hidden = false;
}

function showSelected(panel) {
  const f = state.selected;
  panel.querySelector('#flow-selected').textContent = f ? t('selected', { name: f.name, version: f.version, status: t(`status_${f.status}`) }) : '';
  panel.querySelector('#flow-activate').disabled = !f || f.status === 'active';
}

function versionsTable(page, panel) {
  const body = el('tbody');
  for (const f of page.items) {
    const open = el('button', { type: 'button', textContent: t('open') });
    open.setAttribute('aria-label', `${t('open')} ${f.name} ${f.version}`);
    open.addEventListener('click', () => {
      state.selected = f;
      panel.querySelector('#flow-doc').value = JSON.stringify(f.document, null, 2);
      showSelected(panel);
      panel.querySelector('#flow-doc').focus();
    });
    const activate = el('button', { type: 'button', textContent: t('activate'), disabled: f.status === 'active' });
    activate.setAttribute('aria-label', `${t('activate')} ${f.name} ${f.version}`);
    activate.addEventListener('click', () => activateFlow(panel, f));
    const tr = el('tr', {}, el('td', { textContent: f.name }), el('td', { className: 'num', textContent: String(f.version) }),
      el('td', {}, el('span', { className: 'badge', textContent: t(`status_${f.status}`) })),
      el('td', { textContent: new Date(f.created_at * 1000 || f.created_at).toLocaleString() }), el('td', {}, el('div', { className: 'actions' }, open, activate)));
    tr.querySelector('.badge').dataset.status = f.status;
    tr.dataset.id = f.id;
    body.append(tr);
  }
  const head = el('tr', {}, ...['flow_name', 'version', 'status', 'created', 'actions'].map((k) => el('th', { scope: 'col', textContent: t(k) })));
  return el('div', { className: 'scroll' }, el('table', { id: 'flows' }, el('caption', { className: 'sr-only', textContent: t('flow_versions') }),
    el('thead', {}, head), body));
}

async function activateFlow(panel, flow) {
  const status = panel.querySelector('#status');
  try {
    const row = await api(`/call-flows/${flow.id}/activate`, { method: 'POST' });
    state.selected = row;
    await showFlows(panel);
    say(panel.querySelector('#status'), t('activated', { name: row.name, version: row.version }));
  } catch (e) { showError(status, e); }
}

/** Fill `panel` with the call-flow screen. */
export async function showFlows(panel) {
  const keep = panel.querySelector('#flow-doc')?.value;
  const status = el('div', { id: 'status', className: 'status', role: 'status' });
  const doc = el('textarea', { id: 'flow-doc', rows: 18, spellcheck: false, value: keep ?? '' });
  const report = el('div', { id: 'flow-report', role: 'alert', hidden: true });
  const validate = el('button', { type: 'button', textContent: t('validate') });
  const save = el('button', { type: 'button', className: 'primary', textContent: t('save_draft') });
  const activate = el('button', { type: 'button', id: 'flow-activate', textContent: t('activate'),
    disabled: !state.selected || state.selected.status === 'active' });
  const fresh = el('button', { type: 'button', textContent: t('new_flow') });
  validate.addEventListener('click', async () => {
    try { results(report, await api('/call-flows/validate', { method: 'POST', body: { document: doc.value } })); } catch (e) { showError(report, e); }
  });
  save.addEventListener('click', async () => {
    try {
      state.selected = await api('/call-flows', { method: 'POST', body: { document: doc.value } });
    } catch (e) { report.className = 'error'; showError(report, e); return; }
    // POST /call-flows commits just after it answers: read the list again until the new version is in it
    for (let i = 0; i < 5; i += 1) {
      const page = await showFlows(panel);
      if (!page || page.offset > 0 || page.items.some((f) => f.id === state.selected.id)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say(panel.querySelector('#status'), t('draft_saved', state.selected));
  });
  activate.addEventListener('click', () => state.selected && activateFlow(panel, state.selected));
  fresh.addEventListener('click', () => { state.selected = null; doc.value = ''; showSelected(panel); report.hidden = true; doc.focus(); });
  const editor = el('section', { className: 'card editor' }, el('label', { className: 'field', htmlFor: 'flow-doc', textContent: t('editor') }), doc,
    el('div', { className: 'row' }, validate, save, activate, fresh), el('p', { id: 'flow-selected', className: 'note' }), report);
  panel.replaceChildren(el('div', { className: 'head' }, el('h2', { id: 'panel-title', tabIndex: -1, textContent: t('call_flows') })), status);
  let page;
  try { page = await api(`/call-flows?limit=${PAGE}&offset=${state.offset}`); } catch (e) { showError(status, e); return; }
  const prev = el('button', { type: 'button', textContent: t('previous'), disabled: state.offset === 0 });
  const next = el('button', { type: 'button', textContent: t('next'), disabled: state.offset + page.items.length >= page.total });
  prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); showFlows(panel); });
  next.addEventListener('click', () => { state.offset += PAGE; showFlows(panel); });
  const from = page.total ? page.offset + 1 : 0;
  panel.append(el('h3', { textContent: t('flow_versions') }), page.items.length ? versionsTable(page, panel) : el('p', { textContent: t('empty') }),
    el('nav', { className: 'pager' }, prev, el('span', { textContent: t('page', { from, to: page.offset + page.items.length, total: page.total }) }), next),
    editor);
  showSelected(panel);
  return page;
}
