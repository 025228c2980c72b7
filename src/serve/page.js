// The page of `loyalty serve`: an editor for the program (a textarea over
// its highlighted copy), and beside it what the server makes of the text on
// every edit that checks. The server does all the work (src/serve/api.rs);
// this script draws its answers and never computes a figure itself.
'use strict';

const $ = (id) => document.getElementById(id);
const text = $('text');

const page = {
  keywords: new Set(),
  // The text on disk, as last read or saved.
  disk: '',
  // The last analysis's diagnostics, drawn under the text.
  diagnostics: [],
  // The last run that checked, for the explain panel.
  lastGood: null,
  analysis: { busy: false, again: false, timer: 0 },
  simulation: { enabled: false, busy: false, again: false },
  explanation: { busy: false, again: false },
};

// ------------------------------------------------------------ calls

async function call(name, body) {
  const response = await fetch('/api/' + name, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${response.status}: ${(await response.text()).trim()}`);
  }
  return response.json();
}

function status(message, bad) {
  $('status').textContent = message;
  $('status').classList.toggle('bad', Boolean(bad));
}

function modified() {
  return text.value !== page.disk;
}

function showModified() {
  const count = page.diagnostics.length;
  const errors = page.diagnostics.filter((d) => d.severity === 1).length;
  const state = modified() ? 'modified, not saved' : 'as on disk';
  const checked = errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}` : 'checks';
  status(`${state} · ${checked}${count > errors ? `, ${count - errors} warning(s)` : ''}`, errors > 0);
}

// ------------------------------------------------------------ the editor

// The offset in `source` of each line's start.
function lineStarts(source) {
  const starts = [0];
  for (let i = 0; i < source.length; i++) {
    if (source[i] === '\n') starts.push(i + 1);
  }
  return starts;
}

// A position as the language server gives it (a line, and UTF-16 units in
// it, as JavaScript counts) to an offset.
function offsetOf(starts, position, length) {
  const start = starts[Math.min(position.line, starts.length - 1)] ?? 0;
  return Math.min(start + position.character, length);
}

const TOKEN = /#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?|\d+(?:\.\d+)?%?|[A-Za-z_][A-Za-z0-9_]*|[^]/gy;

function tokenClass(token) {
  const first = token[0];
  if (first === '#') return 'comment';
  if (first === '"') return 'string';
  if (first >= '0' && first <= '9') return 'number';
  if (/^[A-Za-z_]/.test(token)) return page.keywords.has(token) ? 'keyword' : 'name';
  return '';
}

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// The highlighted copy of the text, the diagnostics' ranges underlined.
function highlight() {
  const source = text.value;
  const starts = lineStarts(source);
  // 2 under an error, 1 under a warning, per UTF-16 unit.
  const under = new Uint8Array(source.length + 1);
  const flagged = new Map();
  for (const d of page.diagnostics) {
    const level = d.severity === 1 ? 2 : 1;
    const start = offsetOf(starts, d.range.start, source.length);
    let end = offsetOf(starts, d.range.end, source.length);
    if (end <= start) end = start + 1;
    for (let i = start; i < end && i <= source.length; i++) under[i] = Math.max(under[i], level);
    const line = d.range.start.line;
    flagged.set(line, Math.max(flagged.get(line) ?? 0, level));
  }
  const parts = [];
  TOKEN.lastIndex = 0;
  let match;
  while (TOKEN.lastIndex < source.length && (match = TOKEN.exec(source))) {
    const token = match[0];
    const cls = tokenClass(token);
    let from = match.index;
    // Split the token where the underline starts or stops.
    for (let i = match.index + 1; i <= match.index + token.length; i++) {
      if (i === match.index + token.length || under[i] !== under[from]) {
        const piece = escapeHtml(source.slice(from, i));
        const classes = [cls, ['', 'under-warning', 'under-error'][under[from]]].filter(Boolean);
        parts.push(classes.length ? `<span class="${classes.join(' ')}">${piece}</span>` : piece);
        from = i;
      }
    }
  }
  // A mark past the last character, and the last line's height.
  if (under[source.length]) parts.push(`<span class="under-${under[source.length] === 2 ? 'error' : 'warning'}"> </span>`);
  $('highlight').innerHTML = parts.join('') + '\n';
  const gutter = [];
  for (let line = 0; line < starts.length; line++) {
    const level = flagged.get(line);
    const cls = level === 2 ? ' class="error"' : level === 1 ? ' class="warning"' : '';
    gutter.push(`<div${cls}>${line + 1}</div>`);
  }
  $('gutter').innerHTML = gutter.join('');
  scrolled();
}

function scrolled() {
  $('highlight').scrollTop = text.scrollTop;
  $('highlight').scrollLeft = text.scrollLeft;
  $('gutter').scrollTop = text.scrollTop;
}

function showDiagnostics() {
  const list = $('diagnostics');
  list.replaceChildren();
  const source = text.value;
  const starts = lineStarts(source);
  $('diagnostic-count').textContent = page.diagnostics.length ? `(${page.diagnostics.length})` : '';
  if (page.diagnostics.length === 0) {
    const li = document.createElement('li');
    li.className = 'clean';
    li.textContent = 'No mistakes found.';
    list.append(li);
  }
  for (const d of page.diagnostics) {
    const li = document.createElement('li');
    const severity = d.severity === 1 ? 'error' : 'warning';
    li.className = severity;
    li.dataset.line = d.range.start.line + 1;
    const where = document.createElement('span');
    where.className = 'where';
    where.textContent = `line ${d.range.start.line + 1}, column ${d.range.start.character + 1}: ${severity}`;
    li.append(where, ` [${d.code}] ${d.message}`);
    li.addEventListener('click', () => {
      const start = offsetOf(starts, d.range.start, source.length);
      const end = offsetOf(starts, d.range.end, source.length);
      text.focus();
      text.setSelectionRange(start, Math.max(start, end));
      const lineHeight = 20;
      text.scrollTop = Math.max(0, d.range.start.line * lineHeight - text.clientHeight / 3);
    });
    list.append(li);
  }
}

// ------------------------------------------------------------ tables

// A table; its first `labels` columns are words, the others figures.
function table(header, rows, labels = 1) {
  const t = document.createElement('table');
  const head = t.insertRow();
  header.forEach((h, i) => {
    const th = document.createElement('th');
    th.textContent = h;
    if (i < labels) th.className = 'label';
    head.append(th);
  });
  for (const row of rows) {
    const tr = t.insertRow();
    row.forEach((cell, i) => {
      const td = tr.insertCell();
      td.textContent = cell ?? '-';
      if (i < labels) td.className = 'label';
    });
  }
  return t;
}

function note(message) {
  const p = document.createElement('p');
  p.className = 'note';
  p.textContent = message;
  return p;
}

// The change cells of a diff line coloured by direction.
function diffTable(header, lines, labels) {
  const t = table(header, lines, labels);
  const changeColumn = header.length - 2;
  for (const tr of [...t.rows].slice(1)) {
    const cell = tr.cells[changeColumn];
    if (!cell) continue;
    if (cell.textContent.startsWith('+')) cell.className = 'up';
    if (cell.textContent.startsWith('-') && cell.textContent !== '-') cell.className = 'down';
  }
  return t;
}

function showRun(run) {
  const totals = $('totals');
  const liability = $('liability');
  if ('Err' in run) {
    totals.replaceChildren(note(run.Err));
    liability.replaceChildren();
    return;
  }
  const { summary } = run.Ok;
  const e = summary.events;
  const classes = Object.entries(e.rejected_by_class ?? {}).map(([k, v]) => `${v} ${k}`).join(', ');
  const currency = summary.currency;
  totals.replaceChildren(
    note(`${e.read} records read, ${e.applied} applied, ${e.rejected} rejected${classes ? ` (${classes})` : ''}; ${run.Ok.member_count} members`),
    table(
      ['points', 'issued', 'spent', 'expired', 'reversed', 'outstanding', 'pending', `liability ${currency}`],
      summary.points.map((p) => [p.points, p.issued, p.spent, p.expired, p.reversed, p.outstanding, p.pending, p.liability]),
    ),
  );
  totals.querySelector('table').id = 'totals-table';
  for (const p of summary.points.filter((p) => p.preview)) {
    const worth = p.preview.value === null ? '' : `, worth ${p.preview.value} ${currency}`;
    totals.append(note(`preview rules would have issued ${p.preview.issued} ${p.points}${worth} (not awarded)`));
  }
  liability.replaceChildren(
    table(
      ['month', 'points', 'issued', 'spent', 'expired', 'outstanding', `liability ${currency}`, `cost ${currency}`],
      run.Ok.liability.map((r) => [r.month, r.points, r.issued, r.spent, r.expired, r.outstanding, r.liability, r.cost]),
      2,
    ),
    note(`breakage: ${run.Ok.breakage}`),
  );
  const select = $('member');
  const chosen = select.value;
  select.replaceChildren(...run.Ok.members.map((id) => new Option(id, id)));
  if (run.Ok.members.includes(chosen)) select.value = chosen;
}

function showDiff(compared) {
  const out = $('diff');
  if ('Err' in compared) {
    out.replaceChildren(note(compared.Err));
    return;
  }
  const { diff, overall, tiers } = compared.Ok;
  const parts = [diffTable(['measure', 'on disk', 'edited', 'change', 'change %'], overall)];
  parts[0].id = 'diff-overall';
  const byTier = [];
  for (const tier of tiers) {
    for (const line of tier.lines) {
      byTier.push([`${tier.tier} (${tier.members})`, ...line]);
    }
  }
  const h = document.createElement('h3');
  h.textContent = 'By tier (members by their tier under the program on disk)';
  parts.push(h, diffTable(['tier', 'measure', 'on disk', 'edited', 'change', 'change %'], byTier, 2));
  const moved = document.createElement('h3');
  moved.textContent = 'Members whose balances moved most';
  parts.push(moved);
  if (diff.members.length === 0) {
    parts.push(note("No member's balance or tier changed."));
  } else {
    const arrow = (a, b) => (a === b ? a : `${a} → ${b}`);
    const names = diff.members[0].balances.map(([name]) => name);
    parts.push(
      table(
        ['member', 'tier', ...names, 'moved'],
        diff.members.map((m) => [
          m.member,
          arrow(m.old_tier ?? '-', m.new_tier ?? '-'),
          ...m.balances.map(([, a, b]) => arrow(a, b)),
          m.moved,
        ]),
        2,
      ),
    );
  }
  out.replaceChildren(...parts);
}

function stale(isStale) {
  for (const id of ['run-panel', 'diff-panel', 'explain-panel', 'simulation-panel']) {
    $(id).classList.toggle('stale', isStale);
  }
}

// ------------------------------------------------------------ analysis

// One analysis at a time; an edit made meanwhile is analysed after it.
async function analyze() {
  const job = page.analysis;
  if (job.busy) {
    job.again = true;
    return;
  }
  job.busy = true;
  const source = text.value;
  try {
    const answer = await call('analyze', { text: source });
    if (text.value === source) applyAnalysis(answer, source);
  } catch (error) {
    status(`the server did not answer: ${error.message}`, true);
  }
  job.busy = false;
  if (job.again || text.value !== source) {
    job.again = false;
    analyze();
  }
}

function applyAnalysis(answer, source) {
  page.diagnostics = answer.diagnostics;
  highlight();
  showDiagnostics();
  showModified();
  const good = answer.run !== null;
  stale(!good);
  if (good) {
    page.lastGood = source;
    showRun(answer.run);
    showDiff(answer.diff);
    explain();
    simulate();
  }
  document.body.dataset.analyses = String(Number(document.body.dataset.analyses ?? 0) + 1);
}

function edited() {
  highlight();
  showModified();
  clearTimeout(page.analysis.timer);
  page.analysis.timer = setTimeout(analyze, 120);
}

// ------------------------------------------------------------ explain and simulate

async function explain() {
  const job = page.explanation;
  const member = $('member').value;
  if (!member || page.lastGood === null) return;
  if (job.busy) {
    job.again = true;
    return;
  }
  job.busy = true;
  try {
    const answer = await call('explain', { text: page.lastGood, member });
    if ('Err' in answer) {
      $('story').textContent = answer.Err;
    } else {
      const rejects = answer.Ok.rejects.map((r) => `\nrejected: ${r.file} line ${r.line}: ${r.reason}`);
      $('story').textContent = answer.Ok.story + rejects.join('');
    }
  } catch (error) {
    $('story').textContent = `the server did not answer: ${error.message}`;
  }
  job.busy = false;
  if (job.again) {
    job.again = false;
    explain();
  }
}

async function simulate() {
  const job = page.simulation;
  if (!job.enabled || page.lastGood === null) return;
  if (job.busy) {
    job.again = true;
    return;
  }
  job.busy = true;
  const source = page.lastGood;
  $('simulation-note').textContent = `simulating ${job.runs} runs of ${job.scenario}…`;
  try {
    const answer = await call('simulate', { text: source });
    if ('Err' in answer) {
      $('simulation').replaceChildren(note(answer.Err));
      $('simulation-note').textContent = '';
    } else {
      const s = answer.Ok;
      const r = s.report;
      $('simulation-note').textContent =
        `${r.runs} runs of ${s.scenario}: ${r.population} members, ${r.months.length} months, seed ${r.seed}; p5, median and p95 across runs`;
      const bands = table(
        ['', 'p5', 'median', 'p95'],
        [
          [`cost over the ${r.months.length} months, ${r.currency}`, s.cost.p5, s.cost.p50, s.cost.p95],
          [`liability at the end, ${r.currency}`, s.liability.p5, s.liability.p50, s.liability.p95],
        ],
      );
      bands.id = 'simulation-bands';
      const months = [];
      for (const m of r.months) {
        for (const l of m.liability) {
          months.push([m.month, l.points, l.liability.p5, l.liability.p50, l.liability.p95, l.cost.p50]);
        }
      }
      const details = document.createElement('details');
      const summary = document.createElement('summary');
      summary.textContent = 'By month';
      details.append(
        summary,
        table(['month', 'points', 'liability p5', 'median', 'p95', 'cost median'], months),
      );
      $('simulation').replaceChildren(bands, details);
    }
  } catch (error) {
    $('simulation').replaceChildren(note(`the server did not answer: ${error.message}`));
  }
  job.busy = false;
  if (job.again || page.lastGood !== source) {
    job.again = false;
    simulate();
  }
}

// ------------------------------------------------------------ save

async function save() {
  const source = text.value;
  try {
    const answer = await call('save', { text: source });
    if ('Err' in answer) {
      status(answer.Err, true);
      return;
    }
    page.disk = answer.Ok.text;
    // Formatting moves text: keep the caret on its line.
    const line = source.slice(0, text.selectionStart).split('\n').length - 1;
    if (text.value === source) {
      text.value = answer.Ok.text;
      const starts = lineStarts(text.value);
      const at = starts[Math.min(line, starts.length - 1)];
      text.setSelectionRange(at, at);
    }
    edited();
    status(`saved ${$('file').textContent}`);
    document.body.dataset.saves = String(Number(document.body.dataset.saves ?? 0) + 1);
  } catch (error) {
    status(`not saved: ${error.message}`, true);
  }
}

// ------------------------------------------------------------ start

async function start() {
  const answer = await call('start', {});
  page.keywords = new Set(answer.keywords);
  $('file').textContent = answer.program;
  document.title = `${answer.program} · loyalty serve`;
  $('events-note').textContent = `events: ${answer.events.join(', ')}`;
  if (answer.scenario !== null) {
    page.simulation.enabled = true;
    page.simulation.scenario = answer.scenario;
    page.simulation.runs = answer.runs;
    $('simulation-panel').hidden = false;
  }
  if ('Err' in answer.text) {
    status(answer.text.Err, true);
    page.disk = '';
  } else {
    page.disk = answer.text.Ok;
  }
  text.value = page.disk;
  text.addEventListener('input', edited);
  text.addEventListener('scroll', scrolled);
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Tab') {
      event.preventDefault();
      document.execCommand('insertText', false, '  ');
    }
  });
  document.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') {
      event.preventDefault();
      save();
    }
  });
  $('save').addEventListener('click', save);
  $('member').addEventListener('change', explain);
  highlight();
  await analyze();
  if (!$('member').value && $('member').options.length) {
    $('member').selectedIndex = 0;
    explain();
  }
  document.body.dataset.ready = '1';
}

start().catch((error) => status(`cannot start: ${error.message}`, true));
