//! Credit amounts in responses: JSON numbers with at most 4 fractional digits, whole
//! numbers without a fraction.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serializer;

/// Serializes an exact decimal as a JSON number (`12.5`, `0.0025`, `100`).
pub fn serialize<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let rounded = amount.round_dp(4).normalize();
    if rounded.scale() == 0 {
        if let Some(whole) = rounded.to_i64() {
            return serializer.serialize_i64(whole);
        }
    }
    serializer.serialize_f64(rounded.to_f64().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[derive(serde::Serialize)]
    struct Wrapper(#[serde(serialize_with = "serialize")] Decimal);

    fn render(text: &str) -> String {
        serde_json::to_string(&Wrapper(Decimal::from_str(text).unwrap())).unwrap()
    }

    #[test]
    fn amounts_render_as_plain_numbers() {
        assert_eq!(render("12.5"), "12.5");
        assert_eq!(render("0.0025"), "0.0025");
        assert_eq!(render("100.00"), "100");
        assert_eq!(render("-30.5"), "-30.5");
        assert_eq!(render("1234567.8912"), "1234567.8912");
        assert_eq!(render("0"), "0");
    }
}
