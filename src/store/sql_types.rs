//! The domain's text enums (`Kind`, `Status`, `Audience`) as diesel `Text` values:
//! a row with an unknown value fails to load with its name, never as a silent default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::domain::{Audience, Kind, Status};

macro_rules! text_sql {
    ($($name:ident),+) => {$(
        impl ToSql<Text, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                $name::parse(&text)
                    .ok_or_else(|| format!("unknown {} {text:?}", stringify!($name)).into())
            }
        }
    )+};
}

text_sql!(Kind, Status, Audience);
