#!/usr/bin/env node
// Parses Oracle SQL with the ANTLR grammars-v4 PL/SQL grammar (npm `antlr4ts-sql`, pinned in
// package.json / package-lock.json next to this file). Run by scripts/check-oracle-sql.
//
//   node check.js [--verbose] [--strict-allowlist] [--sqlplus] FILE... [--statement] FILE... [--oci] FILE...
//
// --sqlplus (the default): each FILE is a SQL*Plus script (or a single statement), split as
//   SQL*Plus splits it: a line holding only `/` ends the buffer; a plain SQL statement also ends
//   at a line ending in `;` (not sent); a PL/SQL unit (DECLARE, BEGIN, CREATE PROCEDURE/FUNCTION/
//   PACKAGE/TRIGGER/TYPE) only at `/`. SQL*Plus commands (SET, PROMPT, ...) are skipped.
// --statement: each FILE is a statement file of sql/oracle/queries/, split as SQL*Plus splits it
//   and holding exactly one statement with its SQL*Plus terminator: `;` ending a plain SQL
//   statement's last line, a line holding only `/` after a PL/SQL block (so `@FILE` runs it).
// --oci: each FILE is one statement exactly as procgate sends it through OCI (the Rust dump).
//
// Each statement must parse as exactly one statement: a SQL statement without a trailing `;`
// (OCI refuses one), a PL/SQL unit ending in `END;`. SQL text that a block runs with
// EXECUTE IMMEDIATE from a single literal (`EXECUTE IMMEDIATE q'{CREATE TABLE ...}'`, or such a
// literal passed whole to a local procedure) is parsed too, as its own statement.
//
// Errors are printed as `FILE:LINE:COL: [statement] message`, with the file's own line numbers;
// the exit status is 1 when any statement does not parse, 2 on a usage error.
'use strict';

const fs = require('fs');
const path = require('path');
const { CharStreams } = require('antlr4ts/CharStreams');
const { CommonTokenStream } = require('antlr4ts/CommonTokenStream');
// Not require('antlr4ts-sql') nor require('antlr4ts'): their index files import in a circle.
const { PlSqlLexer } = require('antlr4ts-sql/dist/src/grammar-output/plsql/PlSqlLexer');
const { PlSqlParser } = require('antlr4ts-sql/dist/src/grammar-output/plsql/PlSqlParser');
const { CaseChangingStream } = require('antlr4ts-sql/dist/src/models/CaseChangingStream');

// Valid Oracle this grammar (grammars-v4 as packaged in antlr4ts-sql 1.1.0) refuses. Each entry
// names the statements it applies to and the one construct the grammar lacks; that construct is
// blanked (same length, so positions stay right) and the rest of the statement is still parsed.
// Never a whole file, never a whole statement. An entry that no longer changes anything in a full
// run is an error (`--strict-allowlist`): the list cannot rot. (`q'~...~'` quoting, also valid
// Oracle and not lexed by this grammar, is avoided instead: the repository writes `q'{...}'`.)
const ALLOWED = [
  {
    name: 'json_object_key_value',
    reason:
      "JSON_OBJECT('key' VALUE expr, ...) is Oracle's own syntax since 12.2 " +
      '(https://docs.oracle.com/en/database/oracle/oracle-database/12.2/sqlrf/JSON_OBJECT.html: ' +
      'JSON_OBJECT ( [ KEY ] string VALUE expr [ FORMAT JSON ] ... )); the grammar has no JSON_OBJECT rule ' +
      "and reads it as an ordinary call. Checked as JSON_OBJECT('key', expr, ...).",
    statements: /^store\.(FINISH_SQL|RESCUE_SQL)$/,
    files: /(^|\/)queries\/(finish|rescue)\.sql$/,
    rewrite: (text) => text.replace(/(JSON_OBJECT\s*\()([^()]*(\([^()]*(\([^()]*\)[^()]*)*\)[^()]*)*)\)/gi, (whole, open, args) =>
      `${open}${args.replace(/('(?:[^']|'')*'\s+)VALUE\b/gi, (_m, key) => `${key},    `)})`),
  },
  {
    name: 'json_serialize_returning',
    reason:
      'JSON_SERIALIZE(expr RETURNING CLOB) is Oracle 19c+ syntax ' +
      '(https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/JSON_SERIALIZE.html: ' +
      'JSON_SERIALIZE ( expr [ JSON_returning_clause ] ... )); the grammar has no JSON_SERIALIZE rule. ' +
      'Checked as JSON_SERIALIZE(expr).',
    statements: /^block\.json_/,
    rewrite: (text) => text.replace(/(JSON_SERIALIZE\s*\([^()]*?)(RETURNING\s+CLOB)(\s*\))/gi, (_m, a, r, b) => `${a}${' '.repeat(r.length)}${b}`),
  },
];

// SQL*Plus commands: a line starting with one of these, outside a statement, is not SQL.
const SQLPLUS_COMMAND =
  /^(SET|PROMPT|PRO|WHENEVER|SPOOL|EXIT|QUIT|REM|REMARK|SHOW|SHO|DEFINE|DEF|UNDEFINE|COLUMN|COL|TTITLE|BTITLE|BREAK|COMPUTE|CLEAR|PAUSE|ACCEPT|HOST|VARIABLE|VAR|PRINT|EXECUTE|EXEC|CONNECT|CONN|DISCONNECT|DESCRIBE|DESC|START|@@?)(\s|$|@)/i;
// A PL/SQL unit: SQL*Plus sends it at `/` only (it holds `;` itself).
const PLSQL_UNIT =
  /^(DECLARE|BEGIN|CREATE\s+(OR\s+REPLACE\s+)?((NON)?EDITIONABLE\s+)?(PROCEDURE|FUNCTION|PACKAGE|TRIGGER|TYPE|LIBRARY|JAVA)\b|WITH\s+(FUNCTION|PROCEDURE)\b)/i;
// SQL a literal may carry for EXECUTE IMMEDIATE.
const DYNAMIC_SQL = /^(CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|COMMENT|DECLARE|BEGIN|SELECT|INSERT|UPDATE|DELETE|MERGE|LOCK)\b/i;
const EXPECTING_SHOWN = 12;

let vocabulary;
let ddlSemicolons = 0; // DDL statements checked with the ';' the grammar's DDL rules want

/** Parses `text`; returns { tree, tokens, errors: [{ line, col, message }] } (lines 1-based). */
function parse(text) {
  const codePoints = Array.from(text);
  const lines = text.split('\n');
  const errors = [];
  const listener = {
    syntaxError(_recognizer, offending, line, col, msg) {
      // The lexer's own message shows no text (CaseChangingStream has none to give): the input's.
      const lexed = /^token recognition error at: /.test(msg);
      const message = lexed
        ? `token recognition error at: '${Array.from(lines[line - 1] || '').slice(col, col + 20).join('')}'`
        : readable(msg, offending, codePoints);
      errors.push({ line, col, message, atEnd: Boolean(offending && offending.type === -1) });
    },
  };
  const lexer = new PlSqlLexer(new CaseChangingStream(CharStreams.fromString(text), true));
  lexer.removeErrorListeners();
  lexer.addErrorListener(listener);
  const tokens = new CommonTokenStream(lexer);
  const parser = new PlSqlParser(tokens);
  parser.removeErrorListeners();
  parser.addErrorListener(listener);
  vocabulary = parser.vocabulary;
  const tree = parser.sql_script();
  return { tree, tokens, errors, codePoints };
}

/** ANTLR's message with token numbers (`'<445>'`) shown as the text, and a short expected list. */
function readable(msg, offending, codePoints) {
  let out = msg.replace(/'<(-?\d+)>'/g, (whole, type) => {
    if (offending && String(offending.type) === type) {
      if (offending.type === -1) return '<end of statement>';
      return `'${codePoints.slice(offending.startIndex, offending.stopIndex + 1).join('')}'`;
    }
    return vocabulary ? vocabulary.getDisplayName(Number(type)) : whole;
  });
  out = out.replace(/<EOF>/g, '<end of statement>');
  // "no viable alternative at input '...'" quotes the input, which CaseChangingStream cannot give.
  if (offending && /^no viable alternative at input /.test(out)) {
    const at = offending.type === -1 ? '<end of statement>' : `'${codePoints.slice(offending.startIndex, offending.stopIndex + 1).join('')}'`;
    out = `no viable alternative at ${at}`;
  }
  return out.replace(/expecting \{([^}]*)\}/, (whole, list) => {
    const items = list.split(', ');
    if (items.length <= EXPECTING_SHOWN) return whole;
    // Punctuation and the end first: a missing ';' or ')' says more than the first keywords A-Z.
    const keyword = (item) => /^'[A-Z][A-Z0-9_$#]*'$/.test(item);
    const shown = [...items.filter((i) => !keyword(i)), ...items.filter(keyword)].slice(0, EXPECTING_SHOWN);
    return `expecting one of {${shown.join(', ')}, ... ${items.length - EXPECTING_SHOWN} more}`;
  });
}

/**
 * Splits a SQL*Plus script into statements: [{ line (1-based start), text, plsql, terminated }];
 * `terminated` is the terminator that ended it (`;` or `/`), or false.
 */
function splitSqlplus(script) {
  const lines = script.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop(); // the final newline ends a line
  const out = [];
  const problems = [];
  let buffer = null; // { line, lines: [], plsql }
  let blankLinesEnd = true; // SET SQLBLANKLINES OFF, the default
  let lastLine = 0; // the line the statement being flushed ends on (its terminator's)
  const flush = (terminated) => {
    if (buffer && buffer.lines.join('\n').trim() !== '') {
      out.push({ line: buffer.line, text: buffer.lines.join('\n'), plsql: buffer.plsql, terminated, end: lastLine });
    }
    buffer = null;
  };
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    lastLine = i + 1;
    if (buffer === null) {
      if (trimmed === '' || trimmed.startsWith('--')) return;
      if (SQLPLUS_COMMAND.test(trimmed)) {
        if (/^SET\s+SQLBL(ANKLINES)?\s+ON\b/i.test(trimmed)) blankLinesEnd = false;
        if (/^SET\s+SQLBL(ANKLINES)?\s+OFF\b/i.test(trimmed)) blankLinesEnd = true;
        return;
      }
      if (trimmed === '/') return; // runs the previous buffer again: nothing new to parse
      buffer = { line: i + 1, lines: [], plsql: PLSQL_UNIT.test(stripLeadingComments(trimmed)) };
    } else if (!buffer.plsql && buffer.lines.length === 1 && !PLSQL_UNIT.test(buffer.lines[0].trim())) {
      // The unit's kind may only show on a later line (`CREATE OR REPLACE\nPROCEDURE ...`).
      buffer.plsql = PLSQL_UNIT.test(stripLeadingComments(`${buffer.lines[0].trim()} ${trimmed}`));
    }
    if (trimmed === '/') return flush('/');
    if (!buffer.plsql && trimmed === '' && blankLinesEnd) {
      problems.push({
        line: i + 1,
        col: 0,
        message: 'a blank line inside a SQL statement: SQL*Plus drops the statement here (SET SQLBLANKLINES ON)',
      });
      buffer = null; // dropped, as SQL*Plus drops it
      return;
    }
    if (!buffer.plsql && /;\s*$/.test(raw) && !/--/.test(raw)) {
      buffer.lines.push(raw.replace(/;\s*$/, ''));
      return flush(';');
    }
    buffer.lines.push(raw);
  });
  flush(false);
  return { statements: out, problems };
}

function stripLeadingComments(text) {
  return text.replace(/^(\s*(--[^\n]*\n?|\/\*[\s\S]*?\*\/))*\s*/, '');
}

/** The literal's text without its quotes: '...' (with '' for '), q'{...}', N'...'. */
function literalText(tokenText) {
  const m = /^[nN]?[qQ]'([\s\S])([\s\S]*)[\s\S]'$/.exec(tokenText);
  if (m) return { text: m[2], prefix: 3 + (/^[nN]/.test(tokenText) ? 1 : 0) };
  const plain = /^[nN]?'([\s\S]*)'$/.exec(tokenText);
  if (plain) return { text: plain[1].replace(/''/g, "'"), prefix: /^[nN]/.test(tokenText) ? 2 : 1 };
  return null;
}

/**
 * Literals holding a whole SQL statement that a block runs dynamically: the only operand of
 * EXECUTE IMMEDIATE, or a whole argument of a call (`ddl(q'{ALTER TABLE ...}', -2264)`).
 */
function dynamicSql(tokens, codePoints) {
  // Token texts come from the input: CaseChangingStream gives the tokens none.
  const textOf = (t) => codePoints.slice(t.startIndex, t.stopIndex + 1).join('');
  const visible = tokens.getTokens().filter((t) => t.channel === 0 && t.type !== -1);
  const found = [];
  visible.forEach((t, i) => {
    if (t.type !== PlSqlLexer.CHAR_STRING) return;
    const before = visible[i - 1];
    const after = visible[i + 1];
    const opens = before && (before.type === PlSqlLexer.IMMEDIATE || ['(', ','].includes(textOf(before)));
    const closes = after && ([';', ')', ','].includes(textOf(after)) || /^(USING|INTO|RETURNING|RETURN)$/i.test(textOf(after)));
    if (!opens || !closes) return;
    const literal = literalText(textOf(t));
    if (!literal || !DYNAMIC_SQL.test(literal.text.trim())) return;
    found.push({ line: t.line, col: t.charPositionInLine + literal.prefix, text: literal.text });
  });
  return found;
}

/** The first words of a statement, to name it in a message. */
function summary(text) {
  const words = stripLeadingComments(text).replace(/\s+/g, ' ').trim();
  return words.length > 60 ? `${words.slice(0, 57)}...` : words;
}

/**
 * Checks one statement; returns its errors as { line, col, message }, positioned in the statement's
 * own text, with the parse's tokens. `plsql`: a PL/SQL unit (must end with `END;`); otherwise SQL,
 * which must not end with `;`.
 */
function checkStatement(text, plsql) {
  let { tree, tokens, errors, codePoints } = parse(text);
  if (!plsql && errors.length > 0 && errors[0].atEnd) {
    // The grammar's DDL rules (create_table, create_index, alter_table, ...) end with ';' of their
    // own, which SQL text sent to Oracle never has (OCI and EXECUTE IMMEDIATE take a statement
    // without terminator; one is ORA-00911/ORA-00933). Such a statement is checked with the ';'
    // the rule wants, and only passes when that ';' is taken by the statement's own rule.
    const retry = parse(`${text};`);
    if (retry.errors.length === 0 && retry.tree.SEMICOLON().length === 0) {
      ({ tree, tokens, errors } = retry);
      ddlSemicolons += 1;
    }
  }
  if (errors.length > 0) return { errors, tokens, codePoints };
  const units = tree.unit_statement().length + tree.sql_plus_command().length;
  const lastLine = text.split('\n').length;
  if (units !== 1) {
    errors.push({ line: 1, col: 0, message: `${units} statements where Oracle takes exactly one` });
  } else if (tree.SEMICOLON().length > 0) {
    errors.push({ line: lastLine, col: 0, message: "a ';' after a SQL statement (Oracle refuses it: ORA-00933/ORA-00911)" });
  } else if (plsql && !/;\s*$/.test(text)) {
    errors.push({ line: lastLine, col: 0, message: "a PL/SQL unit must end with ';'" });
  }
  return { errors, tokens, codePoints };
}

/** Statements, each { name, file, line, text, plsql }, and problems found while splitting. */
function statementsOf(file, mode) {
  const text = fs.readFileSync(file, 'utf8');
  if (mode === 'oci') {
    const name = path.basename(file).replace(/\.sql$/, '');
    return { statements: [{ name, file, line: 1, text, plsql: PLSQL_UNIT.test(stripLeadingComments(text)) }], problems: [] };
  }
  const { statements, problems } = splitSqlplus(text);
  const last = statements[statements.length - 1];
  if (mode === 'statement') {
    problems.push(...statementFileProblems(statements, text.replace(/\n$/, '').split('\n').length));
  } else if (statements.length > 1 && last && !last.terminated) {
    problems.push({ line: last.line, col: 0, message: `not run by SQL*Plus: no '/' (or ';') after it: ${summary(last.text)}` });
  }
  return {
    statements: statements.map((s) => ({ name: `line ${s.line}: ${summary(s.text)}`, file, line: s.line, text: s.text, plsql: s.plsql })),
    problems: problems.map((p) => ({ ...p, file })),
  };
}

/**
 * What keeps a statement file (sql/oracle/queries/) from being one statement SQL*Plus runs as it
 * is: not exactly one statement, or not ended by the terminator of its kind.
 */
function statementFileProblems(statements, lineCount) {
  if (statements.length === 0) return []; // reported as a file without a statement
  if (statements.length !== 1) {
    const line = statements.length > 1 ? statements[1].line : lineCount;
    return [{ line, col: 0, message: `${statements.length} statements: a statement file holds exactly one` }];
  }
  const [s] = statements;
  const wanted = s.plsql ? '/' : ';';
  if (s.terminated === wanted) return [];
  const line = s.terminated ? s.end : lineCount;
  const message = s.plsql
    ? "a PL/SQL block must be followed by a line holding only '/' (SQL*Plus waits for it)"
    : s.terminated
      ? "a SQL statement must end with ';' at the end of its last line, not a '/' line"
      : "a SQL statement must end with ';' at the end of its last line (SQL*Plus waits for it)";
  return [{ line, col: 0, message }];
}

/** The statement's text with the allow-list's constructs blanked, and the entries that applied. */
function applyAllowed(name, file, text) {
  const applied = [];
  let out = text;
  for (const entry of ALLOWED) {
    if (!entry.statements.test(name) && !(entry.files && entry.files.test(file))) continue;
    const rewritten = entry.rewrite(out);
    if (rewritten.length !== out.length) throw new Error(`allow-list entry ${entry.name} changed the text's length`);
    if (rewritten !== out) applied.push(entry.name);
    out = rewritten;
  }
  return { text: out, applied };
}

function main(argv) {
  let mode = 'sqlplus';
  let strictAllowlist = false;
  let verbose = false;
  const inputs = [];
  for (const a of argv) {
    if (a === '--oci' || a === '--sqlplus' || a === '--statement') mode = a.slice(2);
    else if (a === '--strict-allowlist') strictAllowlist = true;
    else if (a === '--verbose') verbose = true;
    else if (a.startsWith('--')) return usage(`unknown option ${a}`);
    else inputs.push({ file: a, mode });
  }
  if (inputs.length === 0) return usage('no files');
  let parsed = 0;
  const failures = [];
  const used = new Map(); // allow-list entry -> statements it applied to
  const report = (file, line, col, name, message) => failures.push(`${file}:${line}:${col}: [${name}] ${message}`);
  const check = (statement, origin) => {
    const { text, applied } = applyAllowed(statement.name, statement.file, statement.text);
    for (const a of applied) used.set(a, [...(used.get(a) || []), statement.name]);
    const { errors, tokens, codePoints } = checkStatement(text, statement.plsql);
    parsed += 1;
    if (errors.length > 0) {
      // The first error is the real one; ANTLR's recovery makes the rest mostly echoes.
      const e = errors[0];
      const col = e.line === 1 ? e.col + origin.col : e.col;
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors after it)` : '';
      report(statement.file, origin.line + e.line - 1, col + 1, statement.name, e.message + more);
      return;
    }
    for (const d of dynamicSql(tokens, codePoints)) {
      const line = origin.line + d.line - 1;
      const col = d.line === 1 ? d.col + origin.col : d.col;
      const plsql = PLSQL_UNIT.test(stripLeadingComments(d.text.trim()));
      check({ name: `${statement.name} > dynamic SQL at line ${line}`, file: statement.file, text: d.text, plsql }, { line, col });
    }
  };
  for (const { file, mode: m } of inputs) {
    let found;
    try {
      found = statementsOf(file, m);
    } catch (e) {
      return usage(`cannot read ${file}: ${e.message}`);
    }
    for (const p of found.problems) report(p.file, p.line, p.col + 1, 'SQL*Plus', p.message);
    if (found.statements.length === 0) report(file, 1, 1, 'SQL*Plus', 'no statement in this file');
    for (const s of found.statements) check(s, { line: s.line, col: 0 });
  }
  for (const entry of ALLOWED) {
    const names = used.get(entry.name);
    if (names && verbose) console.error(`oracle-sql: allowed ${entry.name} in ${names.join(', ')}: ${entry.reason}`);
    if (!names && strictAllowlist) failures.push(`check.js: [allow-list] entry ${entry.name} applies to no statement any more: remove it`);
  }
  if (verbose && ddlSemicolons > 0) console.error(`oracle-sql: ${ddlSemicolons} DDL statements checked with the ';' the grammar's DDL rules require`);
  for (const f of failures) console.error(f);
  console.log(`oracle-sql: ${parsed} statements parsed, ${failures.length} errors`);
  return failures.length > 0 ? 1 : 0;
}

function usage(message) {
  console.error(
    `check.js: ${message}\nusage: node check.js [--verbose] [--strict-allowlist] [--sqlplus] FILE... [--statement] FILE... [--oci] FILE...`,
  );
  return 2;
}

process.exitCode = main(process.argv.slice(2));
