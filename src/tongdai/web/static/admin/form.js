// Forms built from a resource's field list (resources.js), values read back into an API body, and the
// API's error bodies (message + details) written next to the form.
import { api } from '../shared/net.js';
import { t } from './strings.js';

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** [value, label] pairs of a `ref` field's choices, without repeats (flow versions share a name). */
export async function refChoices(field) {
  const pairs = (await options(field.ref)).map((r) => [r[field.key || 'id'], r[field.label]]);
  return [...new Map(pairs).entries()];
}

/** The rows of another resource for a `ref` or `levels` field (the first 500, enough for a pick list). */
async function options(path) {
  return (await api(`${path}?limit=500`)).items;
}

function labelled(field, control, hint) {
  const text = el('span', { textContent: t(`f_${field.name}`) }, hint ? el('small', { textContent: ` (${hint})` }) : null);
  return el('label', { className: 'field' }, text, control);
}

async function control(field, value, editing) {
  const id = `f-${field.name}`;
  const required = field.required === true || (field.required === 'create' && !editing);
  switch (field.kind) {
    case 'check':
      return el('label', { className: 'field check' }, el('input', { id, type: 'checkbox', checked: Boolean(value) }),
        el('span', { textContent: t(`f_${field.name}`) }));
    case 'select': {
      const select = el('select', { id }, ...field.options.map((o) => el('option', { value: o, textContent: o })));
      select.value = value ?? '';
      return labelled(field, select);
    }
    case 'ref': {
      // a list this role may not read (supervisors and /users): only "none" and the current value
      const rows = await refChoices(field).catch(() => []);
      const select = el('select', { id }, el('option', { value: '', textContent: t('none') }),
        ...rows.map(([key, label]) => el('option', { value: key, textContent: label })));
      // a value the list does not have (an old flow name) stays as it is rather than being dropped on save
      if (value && !rows.some(([key]) => key === value)) select.append(el('option', { value, textContent: value }));
      select.value = value ?? '';
      return labelled(field, select);
    }
    case 'levels': {
      const skills = await options(field.ref);
      const box = el('fieldset', { id, className: 'levels' }, el('legend', { textContent: `${t(`f_${field.name}`)} (${t('level_hint')})` }));
      for (const s of skills) {
        const input = el('input', { id: `${id}-${s.name}`, type: 'number', min: 1, max: 10, value: value?.[s.name] ?? '' });
        input.dataset.skill = s.name;
        box.append(el('label', { className: 'field' }, el('span', { textContent: s.name }), input));
      }
      return box;
    }
    case 'weekly': {
      const box = el('fieldset', { id, className: 'levels' }, el('legend', { textContent: `${t(`f_${field.name}`)} (${t('weekly_hint')})` }));
      for (const day of DAYS) {
        const text = (value?.[day] || []).map(([a, b]) => `${a}-${b}`).join(', ');
        const input = el('input', { id: `${id}-${day}`, value: text, placeholder: '08:00-17:30' });
        input.dataset.day = day;
        box.append(el('label', { className: 'field' }, el('span', { textContent: t(`day_${day}`) }), input));
      }
      return box;
    }
    case 'json':
      return labelled(field, el('textarea', { id, rows: 4, required, value: JSON.stringify(value ?? null, null, 1) }), t('json_hint'));
    case 'list':
      return labelled(field, el('input', { id, value: (value || []).join(', ') }), t('list_hint'));
    default: {
      const input = el('input', { id, required, value: value ?? '' });
      input.type = field.kind === 'password' ? 'password' : field.kind === 'number' ? 'number' : field.type || 'text';
      for (const attr of ['min', 'max', 'step', 'pattern']) if (field[attr] !== undefined) input[attr] = field[attr];
      if (field.kind === 'password') input.autocomplete = 'new-password';
      return labelled(field, input, field.skipBlank && editing ? t('password_hint') : '');
    }
  }
}

/** The form's controls for `row` (null: a new row with the defaults); create-only fields are shown read-only on edit. */
export async function buildFields(fields, row) {
  const editing = row !== null;
  const nodes = [];
  for (const field of fields) {
    const node = await control(field, editing ? row[field.name] : field.value, editing);
    if (editing && field.createOnly) node.querySelectorAll('input, select').forEach((c) => { c.disabled = true; });
    nodes.push(node);
  }
  return nodes;
}

/** The API body from the form (throws with the field's label when a JSON field does not parse). */
export function readFields(fields, form, editing) {
  const body = {};
  for (const field of fields) {
    if (editing && field.createOnly) continue;
    const c = form.querySelector(`#f-${field.name}`);
    if (field.kind === 'check') body[field.name] = c.checked;
    else if (field.kind === 'number') body[field.name] = Number(c.value);
    else if (field.kind === 'ref') body[field.name] = c.value || (field.key ? '' : null);
    else if (field.kind === 'list') body[field.name] = c.value.split(',').map((s) => s.trim()).filter(Boolean);
    else if (field.kind === 'weekly') {
      // "08:00-12:00, 13:00-17:30" -> [["08:00", "12:00"], ["13:00", "17:30"]]; the API checks the times
      body[field.name] = Object.fromEntries([...c.querySelectorAll('input')].filter((i) => i.value.trim() !== '')
        .map((i) => [i.dataset.day, i.value.split(',').map((part) => part.trim().split('-').map((x) => x.trim()))]));
    } else if (field.kind === 'levels') {
      body[field.name] = Object.fromEntries([...c.querySelectorAll('input')].filter((i) => i.value !== '')
        .map((i) => [i.dataset.skill, Number(i.value)]));
    } else if (field.kind === 'json') {
      try { body[field.name] = JSON.parse(c.value); } catch (e) {
        throw Object.assign(new Error(`${t(`f_${field.name}`)}: ${e.message}`), { details: null });
      }
    } else if (!(field.skipBlank && c.value === '')) body[field.name] = c.value;
  }
  return body;
}

/** One line per detail of an API error body: pydantic's [{loc, msg}] or a {key: value} mapping. */
export function detailLines(details) {
  if (!details) return [];
  if (Array.isArray(details)) {
    return details.map((d) => (d && d.msg ? `${(d.loc || []).filter((p) => p !== 'body').join('.')}: ${d.msg}` : JSON.stringify(d)));
  }
  // flow_invalid: its problems and warnings, one a line (its `errors` say the same in parts)
  if (Array.isArray(details.problems)) {
    return [...details.problems, ...(details.warnings || []).map((w) => `${t('warnings')}: ${w}`)];
  }
  if (typeof details === 'object') return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [String(details)];
}

/** Show `error` (an ApiError with its body, or an Error) in `box`, a role=alert element. */
export function showError(box, error) {
  const lines = detailLines(error.body?.details ?? error.details);
  box.replaceChildren(el('strong', { textContent: error.message }),
    lines.length ? el('ul', {}, ...lines.map((l) => el('li', { textContent: l }))) : null);
  box.classList.add('error');
  box.hidden = false;
}

/** A success message in a status line that may have shown an error before. */
export function say(box, text) {
  box.className = 'status';
  box.textContent = text;
}
