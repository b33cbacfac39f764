// The side-by-side webview: draws the predicted and the real trace as aligned rows (only the rows in view: traces
// reach 100,000 steps), follows the debugger's position and asks the extension to move the debugger when a row is chosen.
// Runs under a strict CSP: no inline styles or handlers; styles change through classes and the CSSOM only.
(function () {
  'use strict';

  const vscode = acquireVsCodeApi();

  /** Rows drawn above and below the visible ones, so fast scrolling shows no blank band. */
  const OVERSCAN = 12;
  const MAX_DEPTH_INDENT = 12;

  /** Each verdict as a symbol (all a half-width view shows) and a short word (shown when there is room). */
  const VERDICT_SYMBOL = {
    match: '✓',
    'state-differs': '≠',
    'action-differs': '✗',
    missing: '−',
    extra: '+',
  };
  const VERDICT_SHORT = {
    match: 'match',
    'state-differs': 'state',
    'action-differs': 'action',
    missing: 'missing',
    extra: 'extra',
  };
  const VERDICT_WORDS = {
    match: 'match',
    'state-differs': 'state differs',
    'action-differs': 'action differs',
    missing: 'missing from the prediction',
    extra: 'extra in the prediction',
  };
  const SIDE_WORDS = { predicted: 'Predicted', actual: 'Real' };

  const table = document.getElementById('table');
  const header = document.getElementById('header');
  const canvas = document.getElementById('canvas');
  const scoresElement = document.getElementById('scores');
  const divergenceElement = document.getElementById('divergence');
  const noticesElement = document.getElementById('notices');
  const statusElement = document.getElementById('status');
  const legendElement = document.getElementById('legend');

  /** @type {null | { mode: string, columns: string[], rows: any[], position: number, firstDivergence?: any, scores: any[], verdictCounts?: Record<string, number>, notices: string[] }} */
  let model = null;
  let selected = -1;
  let current = -1;
  let rowHeight = 22;
  let renderQueued = false;
  /** Row elements in the DOM, by position. */
  const rendered = new Map();
  let viewportHeight = 0;

  // ------------------------------------------------------------------------------------------------ messages

  window.addEventListener('message', (event) => {
    const message = event.data;
    if (!message || typeof message.type !== 'string') return;
    switch (message.type) {
      case 'model':
        setModel(message.model, typeof message.position === 'number' ? message.position : message.model.position);
        break;
      case 'select':
        if (typeof message.position === 'number') follow(message.position);
        break;
      case 'status':
        showStatus(String(message.text || ''));
        break;
      case 'clear':
        clear(String(message.text || ''));
        break;
    }
  });

  function setModel(next, position) {
    model = next;
    forgetRows();
    table.classList.remove('mode-compare', 'mode-actual', 'mode-predicted');
    table.classList.add(`mode-${model.mode}`);
    table.setAttribute('aria-rowcount', String(model.rows.length + 1));
    table.setAttribute('aria-label', model.mode === 'compare' ? 'Predicted and real trace, aligned' : `${SIDE_WORDS[model.columns[0]]} trace`);
    drawHeader();
    drawSummary();
    showStatus(model.rows.length === 0 ? 'The trace has no steps yet.' : '');
    // The summary above the table may have changed its height.
    measureViewport();
    current = -1;
    selected = -1;
    if (model.rows.length > 0) follow(Math.min(Math.max(position, 0), model.rows.length - 1));
    else scheduleRender();
  }

  function clear(text) {
    model = null;
    selected = -1;
    current = -1;
    forgetRows();
    header.replaceChildren();
    scoresElement.replaceChildren();
    divergenceElement.replaceChildren();
    noticesElement.replaceChildren();
    canvas.style.height = '0px';
    table.setAttribute('aria-rowcount', '0');
    table.removeAttribute('aria-activedescendant');
    showStatus(text || 'No CWM debug session.');
  }

  function showStatus(text) {
    statusElement.textContent = text;
    statusElement.classList.toggle('hidden', text === '');
  }

  /** The debugger moved: its row becomes the current and the selected one, scrolled into view. */
  function follow(position) {
    if (!model || position < 0 || position >= model.rows.length) return;
    current = position;
    select(position, 'center');
  }

  function goTo(position) {
    if (!model) return;
    const row = model.rows[position];
    if (!row) return;
    const message = { type: 'goToStep', position: row.position, step: row.goTo.step };
    if (row.goTo.side) message.side = row.goTo.side;
    vscode.postMessage(message);
  }

  // ------------------------------------------------------------------------------------------------ summary

  function drawSummary() {
    scoresElement.replaceChildren();
    for (const score of model.scores) {
      const item = element('span', `score score-${score.id}${score.good === true ? ' good' : score.good === false ? ' bad' : ''}`);
      item.dataset.score = score.id;
      item.title = score.title;
      item.setAttribute('aria-label', score.title);
      item.append(element('span', 'score-label', score.label), element('span', 'score-value', score.text));
      scoresElement.append(item);
    }
    if (model.verdictCounts) {
      const counts = element('span', 'verdict-counts');
      for (const [verdict, count] of Object.entries(model.verdictCounts)) {
        if (count === 0) continue;
        const part = element('span', `count verdict-${verdict}`, `${count} ${VERDICT_WORDS[verdict]}`);
        part.dataset.verdict = verdict;
        counts.append(part);
      }
      scoresElement.append(counts);
    }

    // The legend: what each symbol and colour of the rows means (compare mode only; one column has no verdicts).
    if (legendElement) {
      legendElement.replaceChildren();
      if (model.mode === 'compare') {
        for (const verdict of Object.keys(VERDICT_SYMBOL)) {
          const entry = element('span', `legend-entry verdict-badge-${verdict}`);
          entry.dataset.verdict = verdict;
          entry.append(element('span', 'verdict-symbol', VERDICT_SYMBOL[verdict]), element('span', 'legend-word', ` ${VERDICT_WORDS[verdict]}`));
          legendElement.append(entry);
        }
      }
    }

    divergenceElement.replaceChildren();
    const first = model.firstDivergence;
    if (model.mode === 'compare') {
      if (first) {
        const button = element('button', 'go-divergence', 'Go to first divergence');
        button.type = 'button';
        button.addEventListener('click', () => {
          select(first.position, 'center');
          goTo(first.position);
        });
        divergenceElement.append(element('span', 'badge first-divergence-badge', 'first divergence'), element('span', 'divergence-text', first.description), button);
      } else if (model.rows.length > 0) {
        divergenceElement.append(element('span', 'no-divergence', 'The prediction matches the real run at every step.'));
      }
    }

    noticesElement.replaceChildren(...model.notices.map((text) => element('li', 'notice', text)));
  }

  function drawHeader() {
    header.replaceChildren();
    const names = ['', ...(model.mode === 'compare' ? ['Verdict'] : [])];
    for (const side of model.columns) {
      names.push('Step', 'Line', side === 'actual' ? 'Real run' : 'Prediction', 'Changed');
    }
    // Narrow columns get a short heading at half width (CSS shows one of the two); the full one is the tooltip.
    const SHORT = { Verdict: '', Step: '#', Line: 'Ln', 'Real run': 'Real', Prediction: 'Predicted' };
    names.forEach((name, index) => {
      const numeric = name === 'Step' || name === 'Line';
      const cell = element('div', `cell head${index === 0 ? ' gutter' : ''}${numeric ? ' numeric' : ''}`);
      if (name in SHORT) {
        cell.append(element('span', 'head-long', name), element('span', 'head-short', SHORT[name]));
        cell.title = name === 'Verdict' ? 'Verdict: how the prediction compares with the real run at this row' : name;
      } else {
        cell.textContent = name;
      }
      cell.setAttribute('role', 'columnheader');
      header.append(cell);
    });
    header.setAttribute('aria-rowindex', '1');
  }

  // ------------------------------------------------------------------------------------------------ rows

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  /** Height of the rows' area that the sticky header does not cover (kept up to date by a ResizeObserver). */
  function viewHeight() {
    return Math.max(rowHeight, viewportHeight);
  }

  /**
   * Draws the rows in view (plus a margin). Rows already in the DOM are kept and only their state updated, so moving
   * the selection or scrolling by a row touches a row or two, whatever the length of the trace.
   */
  function render() {
    if (!model) return;
    const count = model.rows.length;
    const height = `${count * rowHeight}px`;
    if (canvas.style.height !== height) canvas.style.height = height;
    const top = table.scrollTop;
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const last = Math.min(count - 1, Math.ceil((top + viewHeight()) / rowHeight) + OVERSCAN);
    // The selected row stays in the DOM even when scrolled away: it is the grid's active descendant.
    const wanted = (position) => (position >= first && position <= last) || position === selected;
    for (const [position, rowElement] of rendered) {
      if (!wanted(position)) {
        rowElement.remove();
        rendered.delete(position);
      } else {
        updateRowState(rowElement, position);
      }
    }
    const fragment = document.createDocumentFragment();
    const add = (position) => {
      if (rendered.has(position)) return;
      const rowElement = drawRow(position);
      rendered.set(position, rowElement);
      fragment.append(rowElement);
    };
    for (let position = first; position <= last; position++) add(position);
    if (selected >= 0 && selected < count) add(selected);
    canvas.append(fragment);
    if (selected >= 0) table.setAttribute('aria-activedescendant', `row-${selected}`);
    else table.removeAttribute('aria-activedescendant');
  }

  /** Empties the table: the next render draws every row anew. */
  function forgetRows() {
    canvas.replaceChildren();
    rendered.clear();
  }

  /** Selection and the debugger's position, which change without the row's data changing. */
  function updateRowState(rowElement, position) {
    const isSelected = position === selected;
    const isCurrent = position === current;
    if (rowElement.classList.contains('selected') === isSelected && rowElement.classList.contains('current') === isCurrent) return;
    rowElement.classList.toggle('selected', isSelected);
    rowElement.classList.toggle('current', isCurrent);
    rowElement.setAttribute('aria-selected', isSelected ? 'true' : 'false');
    if (isCurrent) rowElement.setAttribute('aria-current', 'step');
    else rowElement.removeAttribute('aria-current');
    rowElement.firstChild.textContent = isCurrent ? '▶' : '';
    rowElement.setAttribute('aria-label', rowLabel(model.rows[position], position, isFirstDivergence(position)));
  }

  function isFirstDivergence(position) {
    return model.firstDivergence !== undefined && model.firstDivergence.position === position;
  }

  function drawRow(position) {
    const row = model.rows[position];
    const isFirst = isFirstDivergence(position);
    const classes = ['row'];
    if (row.verdict) classes.push(`verdict-${row.verdict}`);
    if (isFirst) classes.push('first-divergence');
    if (position === selected) classes.push('selected');
    if (position === current) classes.push('current');
    const element_ = element('div', classes.join(' '));
    element_.id = `row-${position}`;
    element_.setAttribute('role', 'row');
    element_.setAttribute('aria-rowindex', String(position + 2));
    element_.setAttribute('aria-selected', position === selected ? 'true' : 'false');
    if (position === current) element_.setAttribute('aria-current', 'step');
    element_.dataset.position = String(position);
    const shownStep = row.actual ? row.actual.step : row.predicted ? row.predicted.step : position;
    element_.dataset.step = String(shownStep);
    if (row.actual) element_.dataset.actualStep = String(row.actual.step);
    if (row.predicted) element_.dataset.predictedStep = String(row.predicted.step);
    if (row.verdict) element_.dataset.verdict = row.verdict;
    element_.style.top = `${position * rowHeight}px`;
    element_.setAttribute('aria-label', rowLabel(row, position, isFirst));

    element_.append(gridCell('gutter', position === current ? '▶' : ''));
    if (row.verdict) {
      const verdict = gridCell(`verdict verdict-badge-${row.verdict}`);
      verdict.append(element('span', 'verdict-symbol', VERDICT_SYMBOL[row.verdict]), element('span', 'verdict-word', ` ${VERDICT_SHORT[row.verdict]}`));
      // The tooltip always says the verdict in words: at half width the symbol is all the cell shows.
      const words = VERDICT_WORDS[row.verdict];
      if (isFirst) {
        verdict.append(element('span', 'badge first-divergence-badge', 'first divergence'));
        verdict.title = `First divergence (${words}): ${model.firstDivergence.description}`;
      } else if (row.differences) {
        verdict.title = [words, ...row.differences.map((difference) => describeDifference(difference))].join('\n');
      } else {
        verdict.title = words;
      }
      element_.append(verdict);
    }
    for (const side of model.columns) appendSide(element_, row, side);
    return element_;
  }

  function appendSide(rowElement, row, side) {
    const cell = row[side];
    if (!cell) {
      rowElement.append(gridCell(`step side-${side} empty`, '—'), gridCell(`line side-${side} empty`, ''), gridCell(`source side-${side} empty`, ''), gridCell(`changes side-${side} empty`, ''));
      return;
    }
    const other = model.mode === 'compare' ? row[side === 'actual' ? 'predicted' : 'actual'] : undefined;
    const actionDiffers = row.verdict === 'action-differs';
    rowElement.append(gridCell(`step side-${side}`, String(cell.step)));
    rowElement.append(gridCell(`line side-${side}${actionDiffers && other && (other.line !== cell.line || other.file !== cell.file) ? ' differs' : ''}`, cell.line > 0 ? String(cell.line) : '?'));

    const source = gridCell(`source side-${side}${actionDiffers ? ' differs' : ''}`);
    // Where the code moves to another file (or back), the file's name leads the source cell.
    if (cell.fileChange) source.append(element('span', 'file-change', cell.fileChange));
    if (cell.event !== 'line') source.append(element('span', `event event-${cell.event}`, cell.event));
    // Call depth as indentation; at half width one space per level (at most four) and the line's own indentation
    // dropped, so the code itself gets the room.
    const text = narrow.matches
      ? ' '.repeat(Math.min(cell.depth, 4)) + cell.source.trim()
      : '  '.repeat(Math.min(cell.depth, MAX_DEPTH_INDENT)) + cell.source.trimEnd();
    source.append(element('span', 'code', text));
    source.title = `${SIDE_WORDS[side]} step ${cell.step}, ${cell.event} in ${cell.functionName} at line ${cell.line || '?'}${cell.file ? ` of ${cell.file}` : ''}: ${cell.source.trim()}`;
    if (cell.issues) {
      source.classList.add('has-issues');
      source.title += `\n${cell.issues.join('\n')}`;
    }
    if (cell.actionConfidence) {
      shadeByConfidence(source, cell.actionConfidence);
      source.title += `\nThis step: ${cell.actionConfidence.words}`;
    }
    rowElement.append(source);

    const changes = gridCell(`changes side-${side}`);
    const differing = new Map((row.differences || []).map((difference) => [difference.name, difference]));
    const titleParts = [];
    if (cell.value !== undefined) {
      const valueName = cell.event === 'exception' ? '(exception)' : '(return)';
      const marker = cell.event === 'exception' ? '! ' : '→ ';
      const shown = element('span', `value${differing.has(valueName) ? ' differs' : ''}`, marker + cell.value);
      titleParts.push(marker + cell.value + shadeByConfidence(shown, cell.valueConfidence));
      changes.append(shown);
      differing.delete(valueName);
    }
    for (const change of cell.changes) {
      const differs = differing.has(change.name);
      differing.delete(change.name);
      const text_ = change.kind === 'deleted' ? `del ${change.name}` : `${change.name}=${change.value}`;
      const shown = element('span', `change change-${change.kind}${differs ? ' differs' : ''}`, text_);
      titleParts.push(text_ + shadeByConfidence(shown, change.confidence));
      changes.append(shown);
    }
    // A variable that differs from the other side without having changed here still needs showing.
    for (const difference of differing.values()) {
      const value = difference[side];
      if (value === undefined) continue;
      const text_ = `${difference.name}=${value}`;
      changes.append(element('span', 'change change-same differs', text_));
      titleParts.push(text_);
    }
    changes.title = titleParts.join('\n');
    rowElement.append(changes);
  }

  function rowLabel(row, position, isFirst) {
    const parts = [];
    if (model.mode === 'compare') {
      parts.push(`Row ${position + 1} of ${model.rows.length}, ${VERDICT_WORDS[row.verdict]}`);
      if (isFirst) parts.push('first divergence');
    }
    for (const side of model.columns) {
      const cell = row[side];
      const name = model.mode === 'compare' ? `${SIDE_WORDS[side]}: ` : '';
      if (!cell) {
        parts.push(`${name}no step`);
        continue;
      }
      const what = [`${name}step ${cell.step}`, `line ${cell.line || 'unknown'}`];
      if (cell.event !== 'line') what.push(cell.event);
      what.push(cell.source.trim());
      if (cell.value !== undefined) what.push(`${cell.event === 'exception' ? 'raises' : 'returns'} ${cell.value}`);
      if (cell.changes.length > 0) what.push(cell.changes.map((change) => (change.kind === 'deleted' ? `${change.name} deleted` : `${change.name} = ${change.value}`)).join(', '));
      parts.push(what.join(', '));
    }
    if (row.differences && !isFirst) parts.push(row.differences.map(describeDifference).join('; '));
    if (isFirst) parts.push(model.firstDivergence.description);
    if (position === current) parts.push('current step');
    return parts.join('. ');
  }

  function describeDifference(difference) {
    return `${difference.name}: predicted ${difference.predicted === undefined ? 'nothing' : difference.predicted}, real ${difference.actual === undefined ? 'nothing' : difference.actual}`;
  }

  // ------------------------------------------------------------------------------------------------ selection

  /** Selects a row and scrolls it into view: `nearest` scrolls as little as possible, `center` puts it mid-view. */
  function select(position, how) {
    if (!model || model.rows.length === 0) return;
    const clamped = Math.min(Math.max(position, 0), model.rows.length - 1);
    selected = clamped;
    const rowTop = clamped * rowHeight;
    const view = viewHeight();
    const top = table.scrollTop;
    if (rowTop < top || rowTop + rowHeight > top + view) {
      table.scrollTop = how === 'center' ? Math.max(0, rowTop - (view - rowHeight) / 2) : rowTop < top ? rowTop : rowTop + rowHeight - view;
    }
    render();
  }

  function pageSize() {
    return Math.max(1, Math.floor(viewHeight() / rowHeight) - 1);
  }

  table.addEventListener('keydown', (event) => {
    if (!model || model.rows.length === 0) return;
    const from = selected < 0 ? 0 : selected;
    let to;
    switch (event.key) {
      case 'ArrowDown': to = from + 1; break;
      case 'ArrowUp': to = from - 1; break;
      case 'PageDown': to = from + pageSize(); break;
      case 'PageUp': to = from - pageSize(); break;
      case 'Home': to = 0; break;
      case 'End': to = model.rows.length - 1; break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        if (selected >= 0) goTo(selected);
        return;
      default:
        return;
    }
    event.preventDefault();
    select(to, 'nearest');
  });

  canvas.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target.closest('.row') : null;
    if (!target || !model) return;
    const position = Number(target.dataset.position);
    table.focus({ preventScroll: true });
    select(position, 'nearest');
    goTo(position);
  });

  table.addEventListener('scroll', scheduleRender, { passive: true });
  // Measured when sizes change rather than on every key press, which would force a layout each time.
  function measureViewport() {
    viewportHeight = table.clientHeight - header.offsetHeight;
  }
  // A half-width group (the CSS breakpoint) draws source text without its indentation: the rows are redrawn when the
  // width crosses it.
  const narrow = window.matchMedia('(max-width: 760px)');
  narrow.addEventListener('change', () => {
    forgetRows();
    scheduleRender();
  });

  new ResizeObserver(() => {
    measureViewport();
    scheduleRender();
  }).observe(table);

  // ------------------------------------------------------------------------------------------------ helpers

  /**
   * Shades a value (or a step) by how sure the model was: the less sure, the stronger (shade-0 to shade-4); a value
   * under the threshold also leads with ⚠ and its confidence (first, so a cut cell still shows it). Returns the words
   * for the title (empty without confidence).
   */
  function shadeByConfidence(target, confidence) {
    if (!confidence) return '';
    target.classList.add(`shade-${confidence.shade}`);
    target.dataset.confidence = confidence.text;
    if (confidence.unsure) {
      target.classList.add('unsure');
      target.prepend(element('span', 'confidence-mark', `⚠ ${confidence.text} `));
    }
    return ` — ${confidence.words}`;
  }

  function element(tag, className, text) {
    const created = document.createElement(tag);
    if (className) created.className = className;
    if (text !== undefined) created.textContent = text;
    return created;
  }

  function gridCell(className, text) {
    const cell = element('div', `cell ${className}`, text);
    cell.setAttribute('role', 'gridcell');
    return cell;
  }

  /** Row height comes from the stylesheet (it follows the editor font size): measured once on a probe row. */
  function measureRowHeight() {
    const probe = element('div', 'row probe');
    probe.append(gridCell('source', 'Mg'));
    canvas.append(probe);
    const measured = Math.round(probe.getBoundingClientRect().height);
    probe.remove();
    // Whole pixels, so that row n sits at exactly n × height however many rows come before it.
    if (measured > 0) {
      rowHeight = measured;
      document.documentElement.style.setProperty('--row-height', `${measured}px`);
    }
  }

  measureRowHeight();
  measureViewport();
  vscode.postMessage({ type: 'ready' });
})();
