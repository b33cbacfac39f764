// The timeline webview (extension/timeline.ts): draws the whole trace as a bar with the cursor, breakpoint runs,
// exceptions and divergences; clicking or dragging asks the extension to move the debugger to that step.
(function () {
  const vscode = acquireVsCodeApi();
  const bar = document.getElementById('bar');
  const info = document.getElementById('info');
  let state = { length: 0, position: -1, exceptions: [], breakpoints: [], divergences: [], complete: true };

  function positionAt(clientX) {
    const rect = bar.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (clientX - rect.left) / Math.max(1, rect.width)));
    return Math.min(state.length - 1, Math.round(fraction * Math.max(0, state.length - 1)));
  }

  function mark(position, kind) {
    const el = document.createElement('div');
    el.className = 'mark ' + kind;
    el.style.left = (state.length <= 1 ? 0 : (position / (state.length - 1)) * 100) + '%';
    el.title = kind + ' at step ' + position;
    bar.appendChild(el);
  }

  function render() {
    bar.textContent = '';
    if (state.length === 0) {
      info.textContent = 'No trace yet: start a CWM debug session.';
      return;
    }
    for (const p of state.breakpoints) mark(p, 'breakpoint');
    for (const p of state.exceptions) mark(p, 'exception');
    for (const p of state.divergences) mark(p, 'divergence');
    if (state.position >= 0) mark(state.position, 'cursor');
    info.textContent = 'Step ' + state.position + ' of ' + state.length + (state.complete ? '' : ' so far') +
      ' · ' + state.breakpoints.length + ' breakpoint runs · ' + state.exceptions.length + ' exceptions' +
      (state.divergences.length ? ' · first divergence at step ' + state.divergences[0] : '');
  }

  let dragging = false;
  let last = -1;
  function go(clientX) {
    if (state.length === 0) return;
    const position = positionAt(clientX);
    if (position === last) return;
    last = position;
    state.position = position;
    render();
    vscode.postMessage({ type: 'goTo', position: position });
  }
  bar.addEventListener('mousedown', (event) => { dragging = true; last = -1; go(event.clientX); });
  window.addEventListener('mousemove', (event) => { if (dragging) go(event.clientX); });
  window.addEventListener('mouseup', () => { dragging = false; });
  bar.addEventListener('keydown', (event) => {
    if (state.length === 0) return;
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (step === 0) return;
    const position = Math.min(state.length - 1, Math.max(0, state.position + step));
    state.position = position;
    render();
    vscode.postMessage({ type: 'goTo', position: position });
  });
  window.addEventListener('message', (event) => {
    const data = event.data;
    if (data && data.type === 'timeline') {
      state = data.timeline;
      render();
    }
  });
  vscode.postMessage({ type: 'ready' });
})();
