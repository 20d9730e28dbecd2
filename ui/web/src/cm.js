// CodeMirror 6 set up for flow documents: a read-only highlighted view, an
// editor whose problems come from the API's validator (underlined at their
// line and column as you type), and a side-by-side diff of two
// revisions. Loaded on demand: pages without YAML do not download it.
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import { HighlightStyle, syntaxHighlighting, indentOnInput, bracketMatching, foldGutter, foldKeymap } from '@codemirror/language';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search';
import { yaml } from '@codemirror/lang-yaml';
import { MergeView } from '@codemirror/merge';
import { tags } from '@lezer/highlight';

// Colours come from the page's CSS variables, so light and dark themes
// need no second editor theme.
const highlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: 'var(--running)' },
  { tag: [tags.string, tags.special(tags.string)], color: 'var(--success)' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--retrying)' },
  { tag: [tags.comment, tags.lineComment], color: 'var(--fg-soft)', fontStyle: 'italic' },
  { tag: [tags.keyword, tags.meta, tags.typeName], color: 'var(--warning)' },
  { tag: [tags.punctuation, tags.separator, tags.squareBracket, tags.brace], color: 'var(--fg-soft)' },
]);

const theme = EditorView.theme({
  '&': { backgroundColor: 'var(--code-bg)', color: 'var(--fg)' },
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-gutters': { backgroundColor: 'var(--bg-soft)', color: 'var(--fg-soft)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'color-mix(in srgb, var(--bg-hover) 60%, transparent)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--bg-hover)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground': { backgroundColor: 'color-mix(in srgb, var(--accent) 30%, transparent)' },
  '.cm-tooltip': { backgroundColor: 'var(--bg)', color: 'var(--fg)', border: '1px solid var(--border)' },
  '.cm-diagnostic-error': { borderLeft: '4px solid var(--diag)' },
  '.cm-lintPoint-error:after': { borderBottomColor: 'var(--diag)' },
  '.cm-changedLine': { backgroundColor: 'color-mix(in srgb, var(--warning-bg) 70%, transparent) !important' },
  '.cm-deletedChunk, .cm-deletedLine': { backgroundColor: 'var(--failed-bg) !important' },
  '.cm-insertedLine': { backgroundColor: 'var(--success-bg) !important' },
  '.cm-changedText': { background: 'color-mix(in srgb, var(--warning) 35%, transparent) !important' },
});

const base = () => [yaml(), syntaxHighlighting(highlight), theme, lineNumbers(), EditorView.contentAttributes.of({ 'aria-label': 'Flow YAML' })];

export function createViewer(parent, doc) {
  return new EditorView({
    parent,
    state: EditorState.create({ doc, extensions: [...base(), EditorState.readOnly.of(true), EditorView.editable.of(false), foldGutter()] }),
  });
}

// range maps a diagnostic's line and column (1-based) to document
// positions: from there to the end of the word it points at.
export function range(doc, line, col) {
  const l = doc.line(Math.min(Math.max(1, line || 1), doc.lines));
  let from = Math.min(l.from + Math.max(0, (col || 1) - 1), l.to);
  let to = from;
  const text = l.text;
  while (to < l.to) {
    const ch = text[to - l.from];
    const next = text[to - l.from + 1];
    if (/\s/.test(ch) || (ch === ':' && (next === undefined || next === ' '))) break;
    to++;
  }
  if (to === from) {
    if (to < l.to) to++;
    else if (from > l.from) from--;
  }
  return { from, to };
}

// createEditor makes an editor whose problems come from validate(text),
// an async function returning the API's diagnostics; onDiagnostics gets
// them too, with their positions.
export function createEditor(parent, doc, { validate, onChange, onDiagnostics }) {
  const source = async (view) => {
    const text = view.state.doc.toString();
    let diags;
    try {
      diags = await validate(text);
    } catch (e) {
      onDiagnostics && onDiagnostics(null, e);
      return [];
    }
    if (view.state.doc.toString() !== text) return []; // changed meanwhile: the next run reports
    const out = diags.map((d) => {
      const { from, to } = range(view.state.doc, d.pos && d.pos.line, d.pos && d.pos.col);
      return { from, to, severity: 'error', message: (d.path ? d.path + ': ' : '') + d.message + (d.hint ? ` (${d.hint})` : ''), source: 'relay validate' };
    });
    onDiagnostics && onDiagnostics(diags, null);
    return out;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        ...base(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        highlightActiveLineGutter(),
        indentOnInput(),
        bracketMatching(),
        highlightSelectionMatches(),
        lintGutter(),
        linter(source, { delay: 350 }),
        keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap, ...foldKeymap, indentWithTab]),
        EditorView.updateListener.of((u) => u.docChanged && onChange && onChange(u.state.doc.toString())),
      ],
    }),
  });
  forceLinting(view);
  return view;
}

// goTo moves the cursor to a line and column and focuses the editor.
export function goTo(view, line, col) {
  const { from } = range(view.state.doc, line, col);
  view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
  view.focus();
}

export function createMerge(parent, a, b) {
  const ext = [...base(), EditorState.readOnly.of(true), EditorView.editable.of(false)];
  return new MergeView({ parent, a: { doc: a, extensions: ext }, b: { doc: b, extensions: ext }, highlightChanges: true, gutter: true });
}
