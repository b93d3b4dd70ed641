//! The SQL the emulator understands, parsed tolerantly: keywords and names in any case, any
//! whitespace and comments between tokens, `[bracketed]` or `"quoted"` names, `N'...'` or
//! `'...'` strings, and statements separated by `;` or nothing.
//!
//! The statements are the ones the product sends, and a few a client library might:
//!
//! - `SELECT col, ... FROM sys.databases [WHERE col = value] [ORDER BY col]`, where the value
//!   is a literal or a bound `@variable`;
//! - `SELECT value, ...` without FROM (`SELECT 1` as a health check);
//! - `EXEC[UTE] proc [@name = value, ...]` (and a procedure name alone as the first statement
//!   of a batch, which T-SQL also runs);
//! - `BEGIN TRAN[SACTION]`, `COMMIT [TRAN...]`, `ROLLBACK [TRAN...]`, `USE db`, `SET option
//!   value` (accepted and ignored).
//!
//! Anything else is a syntax error (102), like SQL Server's answer to a typo.

use super::messages::ServerMessage;
use super::value::Value;

/// One parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Statement {
    /// `SELECT columns FROM <object> [WHERE column = value] [ORDER BY column]`.
    Select {
        columns: Vec<String>,
        from: Vec<String>,
        filter: Option<Filter>,
        order_by: Option<String>,
    },
    /// `SELECT value, ...` without FROM.
    SelectValues(Vec<Expr>),
    /// `EXEC procedure arguments`; the procedure as its dot-separated parts.
    Exec {
        procedure: Vec<String>,
        args: Vec<Arg>,
    },
    Begin,
    Commit,
    Rollback,
    Use(String),
    /// `SET option value`: accepted, changes nothing.
    Set,
}

/// `WHERE column = value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub(crate) column: String,
    pub(crate) value: Expr,
}

/// An argument of `EXEC`: `@name = value` or a bare value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub(crate) name: Option<String>,
    pub(crate) value: Expr,
}

/// A value in a statement: a literal, or a `@variable` bound to an RPC parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Literal(Value),
    Variable(String),
}

/// Parses a batch into its statements.
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>, ServerMessage> {
    let tokens = tokenize(sql)?;
    let mut parser = Parser { tokens: &tokens, at: 0 };
    let mut statements = Vec::new();
    loop {
        while parser.eat_symbol(';') {}
        if parser.peek().is_none() {
            return Ok(statements);
        }
        let first = statements.is_empty();
        statements.push(parser.statement(first)?);
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A name or keyword, unquoted.
    Word(String),
    /// A `[bracketed]` or `"quoted"` name.
    Quoted(String),
    Str(String),
    Number(i64),
    /// `@name`, with the `@`.
    Variable(String),
    Symbol(char),
}

impl Token {
    /// The token as SQL Server would quote it in "Incorrect syntax near '...'".
    fn text(&self) -> String {
        match self {
            Token::Word(word) | Token::Quoted(word) | Token::Variable(word) => word.clone(),
            Token::Str(text) => text.clone(),
            Token::Number(number) => number.to_string(),
            Token::Symbol(symbol) => symbol.to_string(),
        }
    }
}

fn tokenize(sql: &str) -> Result<Vec<Token>, ServerMessage> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let next = chars.get(at + 1).copied();
        if c.is_whitespace() {
            at += 1;
        } else if c == '-' && next == Some('-') {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if c == '/' && next == Some('*') {
            at = find_from(&chars, at + 2, "*/").map_or(chars.len(), |end| end + 2);
        } else if c == '\'' || (matches!(c, 'N' | 'n') && next == Some('\'')) {
            let open = if c == '\'' { at } else { at + 1 };
            let (text, end) = quoted(&chars, open, '\'')?;
            tokens.push(Token::Str(text));
            at = end;
        } else if c == '[' {
            let (text, end) = quoted(&chars, at, ']')?;
            tokens.push(Token::Quoted(text));
            at = end;
        } else if c == '"' {
            let (text, end) = quoted(&chars, at, '"')?;
            tokens.push(Token::Quoted(text));
            at = end;
        } else if c.is_ascii_digit() {
            let end = scan(&chars, at, |c| c.is_ascii_digit());
            let digits: String = chars[at..end].iter().collect();
            let number = digits.parse().map_err(|_| ServerMessage::syntax_near(&digits))?;
            tokens.push(Token::Number(number));
            at = end;
        } else if c == '@' || is_word_char(c) {
            let end = scan(&chars, at + 1, is_word_char);
            let word: String = chars[at..end].iter().collect();
            tokens.push(if c == '@' { Token::Variable(word) } else { Token::Word(word) });
            at = end;
        } else {
            tokens.push(Token::Symbol(c));
            at += 1;
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '#' | '$' | '@')
}

fn scan(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut at = from;
    while at < chars.len() && keep(chars[at]) {
        at += 1;
    }
    at
}

fn find_from(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&at| chars[at..].starts_with(&needle))
}

/// Reads a quoted string or name opening at `open`, where a doubled `close` stands for one.
/// Returns the text and the index after the closing character.
fn quoted(chars: &[char], open: usize, close: char) -> Result<(String, usize), ServerMessage> {
    let mut text = String::new();
    let mut at = open + 1;
    while at < chars.len() {
        if chars[at] == close {
            if chars.get(at + 1) == Some(&close) {
                text.push(close);
                at += 2;
                continue;
            }
            return Ok((text, at + 1));
        }
        text.push(chars[at]);
        at += 1;
    }
    let start: String = chars[open..].iter().take(20).collect();
    Err(ServerMessage {
        number: 105,
        class: 15,
        text: format!("Unclosed quotation mark after the character string '{start}'."),
        state: 1,
        procedure: String::new(),
    })
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn statement(&mut self, first: bool) -> Result<Statement, ServerMessage> {
        let Some(Token::Word(word)) = self.peek().cloned() else {
            return Err(self.unexpected());
        };
        match word.to_ascii_uppercase().as_str() {
            "SELECT" => {
                self.at += 1;
                self.select()
            }
            "EXEC" | "EXECUTE" => {
                self.at += 1;
                self.exec()
            }
            "BEGIN" => {
                self.at += 1;
                self.expect_keyword(&["TRAN", "TRANSACTION"])?;
                self.optional_name();
                Ok(Statement::Begin)
            }
            "COMMIT" | "ROLLBACK" => {
                self.at += 1;
                if self.eat_keyword(&["TRAN", "TRANSACTION", "WORK"]) {
                    self.optional_name();
                }
                let commit = word.eq_ignore_ascii_case("COMMIT");
                Ok(if commit { Statement::Commit } else { Statement::Rollback })
            }
            "USE" => {
                self.at += 1;
                Ok(Statement::Use(self.name()?))
            }
            "SET" => {
                self.at += 1;
                self.name()?;
                match self.next() {
                    Some(Token::Word(_) | Token::Number(_)) => Ok(Statement::Set),
                    _ => Err(self.unexpected_previous()),
                }
            }
            // T-SQL runs a procedure named alone as the first statement of a batch.
            _ if first => self.exec(),
            _ => Err(self.unexpected()),
        }
    }

    fn select(&mut self) -> Result<Statement, ServerMessage> {
        let mut items = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(word) | Token::Quoted(word)) if !is_keyword(&word) => {
                    items.push(SelectItem::Column(word));
                }
                Some(Token::Symbol('*')) => items.push(SelectItem::Column("*".to_owned())),
                Some(_) => {
                    self.at -= 1;
                    items.push(SelectItem::Value(self.expr()?));
                }
                None => return Err(self.unexpected()),
            }
            if !self.eat_symbol(',') {
                break;
            }
        }
        if !self.eat_keyword(&["FROM"]) {
            let values = items.into_iter().map(SelectItem::into_expr).collect::<Result<_, _>>()?;
            return Ok(Statement::SelectValues(values));
        }
        let columns =
            items.into_iter().map(SelectItem::into_column).collect::<Result<Vec<_>, _>>()?;
        let from = self.dotted_name()?;
        let mut filter = None;
        if self.eat_keyword(&["WHERE"]) {
            let column = self.name()?;
            self.expect_symbol('=')?;
            filter = Some(Filter { column, value: self.expr()? });
        }
        let mut order_by = None;
        if self.eat_keyword(&["ORDER"]) {
            self.expect_keyword(&["BY"])?;
            order_by = Some(self.name()?);
            self.eat_keyword(&["ASC"]);
        }
        Ok(Statement::Select { columns, from, filter, order_by })
    }

    fn exec(&mut self) -> Result<Statement, ServerMessage> {
        let procedure = self.dotted_name()?;
        let mut args = Vec::new();
        if self.at_statement_end() {
            return Ok(Statement::Exec { procedure, args });
        }
        loop {
            let name = match (self.peek(), self.tokens.get(self.at + 1)) {
                (Some(Token::Variable(name)), Some(Token::Symbol('='))) => {
                    let name = name.clone();
                    self.at += 2;
                    Some(name)
                }
                _ => None,
            };
            let value = self.expr()?;
            self.eat_keyword(&["OUTPUT", "OUT"]);
            args.push(Arg { name, value });
            if !self.eat_symbol(',') {
                break;
            }
        }
        Ok(Statement::Exec { procedure, args })
    }

    /// A literal, a `@variable`, `NULL`, or a bare word (EXEC takes unquoted strings).
    fn expr(&mut self) -> Result<Expr, ServerMessage> {
        let negative = self.eat_symbol('-');
        let expr = match self.next() {
            Some(Token::Number(number)) => {
                Expr::Literal(Value::Int(if negative { -number } else { number }))
            }
            _ if negative => return Err(self.unexpected_previous()),
            Some(Token::Str(text)) => Expr::Literal(Value::Str(text)),
            Some(Token::Variable(name)) => Expr::Variable(name),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("NULL") => {
                Expr::Literal(Value::Null)
            }
            Some(Token::Word(word)) if !is_keyword(&word) => Expr::Literal(Value::Str(word)),
            _ => return Err(self.unexpected_previous()),
        };
        Ok(expr)
    }

    /// `a.b.c`, where parts may be empty (`msdb..proc`).
    fn dotted_name(&mut self) -> Result<Vec<String>, ServerMessage> {
        let mut parts = vec![self.name_or_empty()];
        while self.eat_symbol('.') {
            parts.push(self.name_or_empty());
        }
        if parts.last().is_some_and(String::is_empty) {
            return Err(self.unexpected());
        }
        Ok(parts)
    }

    fn name_or_empty(&mut self) -> String {
        match self.peek() {
            Some(Token::Word(word) | Token::Quoted(word)) => {
                let word = word.clone();
                self.at += 1;
                word
            }
            _ => String::new(),
        }
    }

    fn name(&mut self) -> Result<String, ServerMessage> {
        match self.next() {
            Some(Token::Word(word) | Token::Quoted(word)) => Ok(word),
            _ => Err(self.unexpected_previous()),
        }
    }

    /// Skips the name of a transaction, if there is one.
    fn optional_name(&mut self) {
        if let Some(Token::Word(word) | Token::Quoted(word) | Token::Variable(word)) = self.peek()
            && !is_statement_start(word)
        {
            self.at += 1;
        }
    }

    fn at_statement_end(&self) -> bool {
        match self.peek() {
            None | Some(Token::Symbol(';')) => true,
            Some(Token::Word(word)) => is_statement_start(word),
            _ => false,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat_symbol(&mut self, symbol: char) -> bool {
        if self.peek() == Some(&Token::Symbol(symbol)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_symbol(&mut self, symbol: char) -> Result<(), ServerMessage> {
        if self.eat_symbol(symbol) { Ok(()) } else { Err(self.unexpected()) }
    }

    fn eat_keyword(&mut self, keywords: &[&str]) -> bool {
        if let Some(Token::Word(word)) = self.peek()
            && keywords.iter().any(|keyword| word.eq_ignore_ascii_case(keyword))
        {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_keyword(&mut self, keywords: &[&str]) -> Result<(), ServerMessage> {
        if self.eat_keyword(keywords) { Ok(()) } else { Err(self.unexpected()) }
    }

    /// A syntax error at the current token, or at the end of the batch.
    fn unexpected(&self) -> ServerMessage {
        match self.peek() {
            Some(token) => ServerMessage::syntax_near(&token.text()),
            None => match self.tokens.last() {
                Some(token) => ServerMessage::syntax_near(&token.text()),
                None => ServerMessage::syntax_near(""),
            },
        }
    }

    /// A syntax error at the token just consumed.
    fn unexpected_previous(&mut self) -> ServerMessage {
        self.at = self.at.saturating_sub(1);
        self.unexpected()
    }
}

/// A SELECT list item: a column name, or a value (for SELECT without FROM).
enum SelectItem {
    Column(String),
    Value(Expr),
}

impl SelectItem {
    fn into_column(self) -> Result<String, ServerMessage> {
        match self {
            SelectItem::Column(name) => Ok(name),
            SelectItem::Value(_) => {
                Err(ServerMessage::unsupported("an expression in a SELECT list"))
            }
        }
    }

    fn into_expr(self) -> Result<Expr, ServerMessage> {
        match self {
            SelectItem::Value(expr) => Ok(expr),
            SelectItem::Column(name) => Err(ServerMessage::invalid_column(&name)),
        }
    }
}

/// Words that end a SELECT list item or an EXEC argument list.
fn is_keyword(word: &str) -> bool {
    ["FROM", "WHERE", "ORDER", "NULL", "OUTPUT"].iter().any(|k| word.eq_ignore_ascii_case(k))
        || is_statement_start(word)
}

/// Words that start a statement, so end the one before when there is no `;`.
fn is_statement_start(word: &str) -> bool {
    ["SELECT", "EXEC", "EXECUTE", "BEGIN", "COMMIT", "ROLLBACK", "USE", "SET"]
        .iter()
        .any(|keyword| word.eq_ignore_ascii_case(keyword))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str) -> Expr {
        Expr::Variable(name.to_owned())
    }

    #[test]
    fn select_from_sys_databases_with_a_bound_name() {
        let parsed =
            parse("select  name,[state_desc]\n FROM Sys.Databases WHERE name=@P1;").unwrap();
        assert_eq!(
            parsed,
            vec![Statement::Select {
                columns: vec!["name".into(), "state_desc".into()],
                from: vec!["Sys".into(), "Databases".into()],
                filter: Some(Filter { column: "name".into(), value: var("@P1") }),
                order_by: None,
            }]
        );
    }

    #[test]
    fn exec_with_named_literals_and_variables() {
        let parsed = parse(
            "exec msdb.dbo.rds_restore_database @restore_db_name=N'It''s', \
             @s3_arn_to_restore_from = @P2, @with_norecovery=1 -- comment",
        )
        .unwrap();
        let Statement::Exec { procedure, args } = &parsed[0] else { panic!("{parsed:?}") };
        assert_eq!(procedure, &["msdb", "dbo", "rds_restore_database"]);
        assert_eq!(args[0].value, Expr::Literal(Value::Str("It's".into())));
        assert_eq!(args[1].value, var("@P2"));
        assert_eq!(args[2].name.as_deref(), Some("@with_norecovery"));
        assert_eq!(args[2].value, Expr::Literal(Value::Int(1)));
    }

    #[test]
    fn several_statements_with_and_without_semicolons() {
        let parsed = parse("SET NOCOUNT ON BEGIN TRAN; exec p COMMIT").unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[3], Statement::Commit);
    }

    #[test]
    fn nonsense_is_a_syntax_error() {
        assert_eq!(parse("SELECT FROM").unwrap_err().number, 102);
        assert_eq!(parse("DROP TABLE x; DROP").unwrap_err().number, 102);
    }
}
