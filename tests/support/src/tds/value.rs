//! Values as the emulator handles them: parameters decoded from an RPC, literals parsed from
//! SQL text, and the cells of the result sets it sends back.

use std::time::SystemTime;

/// One value. Parameters of types the emulator has no use for (money, GUIDs, dates sent by the
/// client...) are kept as [`Value::Other`] with the type's name, so that using one gives a
/// clear error instead of a wrong answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A point in time, sent as `datetime` (the emulator never receives one).
    Time(SystemTime),
    Other(&'static str),
}

impl Value {
    /// The value as text, converting numbers the way SQL Server converts them to `nvarchar`.
    /// `None` for NULL and for values that have no text form.
    pub(crate) fn to_text(&self) -> Option<String> {
        match self {
            Value::Str(text) => Some(text.clone()),
            Value::Int(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_owned()),
            Value::Float(number) => Some(number.to_string()),
            Value::Null | Value::Bytes(_) | Value::Time(_) | Value::Other(_) => None,
        }
    }

    /// The value as an integer, converting text the way SQL Server converts it to `int`.
    /// `Ok(None)` for NULL, `Err(())` for what cannot be converted.
    pub(crate) fn to_int(&self) -> Result<Option<i64>, ()> {
        match self {
            Value::Null => Ok(None),
            Value::Int(number) => Ok(Some(*number)),
            Value::Bool(flag) => Ok(Some(i64::from(*flag))),
            Value::Str(text) => text.trim().parse().map(Some).map_err(|_| ()),
            Value::Float(_) | Value::Bytes(_) | Value::Time(_) | Value::Other(_) => Err(()),
        }
    }
}

/// The SQL type of a result column, as far as the emulator sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// `int`, sent as the nullable INTN type.
    Int,
    /// `nvarchar(n)`, n in characters, at most 4000.
    NVarChar(u16),
    /// `datetime`, sent as the nullable DATETIMN type.
    DateTime,
}

/// A result column: name and type. Every column is sent as nullable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) ty: ColumnType,
}

impl Column {
    pub(crate) fn new(name: &str, ty: ColumnType) -> Column {
        Column { name: name.to_owned(), ty }
    }
}

/// A result set: its columns and its rows, each row one value per column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultSet {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Vec<Value>>,
}
