//! Substring search that means what the user typed: `%` and `_` in a search box are characters,
//! not wildcards (sea-orm's `contains` passes them through to `LIKE`).

use sea_orm::ColumnTrait;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};

/// `column LIKE '%q%' ESCAPE '\'`, with `\`, `%` and `_` in `q` escaped.
pub(crate) fn contains_literally<C: ColumnTrait>(column: C, q: &str) -> Expr {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Expr::col(column.as_column_ref()).like(LikeExpr::new(pattern).escape('\\'))
}
