//! Input checks shared by the importer and the writer: ids, codes and names must fit the
//! contract's value formats and the key encoding of the store.

use std::fmt;

/// One thing wrong with a record: which member and why. Mirrors the contract's
/// `{ field, problem }` error details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The member (dotted path for nested members).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Records that can check themselves before they are written.
pub trait Validate {
    /// Every problem found; empty when the record may be written.
    fn problems(&self) -> Vec<Problem>;
}

/// Longest id the contract allows (section 2.3), in characters.
pub const MAX_ID_LEN: usize = 128;
/// Longest id in UTF-8 bytes (128 characters of at most 4 bytes each). Ids end up in sort
/// keys, which DynamoDB caps at 1,024 bytes; `store::keys` proves every key fits.
pub const MAX_ID_BYTES: usize = 4 * MAX_ID_LEN;
/// Longest name we store, in UTF-8 bytes. Names are written into list sort keys next to the
/// id, and 400 bytes leaves room for the id and the other key components.
pub const MAX_NAME_LEN: usize = 400;

/// Collects problems for one record.
#[derive(Debug, Default)]
pub struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    /// Records a problem with `field`.
    pub fn fail(&mut self, field: &str, problem: impl Into<String>) {
        self.problems.push(Problem { field: field.to_owned(), problem: problem.into() });
    }

    /// An identifier: 1 to 128 characters, no control characters.
    pub fn id(&mut self, field: &str, value: &str) {
        if let Some(problem) = id_problem(value) {
            self.fail(field, problem);
        }
    }

    /// An optional identifier.
    pub fn opt_id(&mut self, field: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.id(field, value);
        }
    }

    /// A display name that ends up in a sort key.
    pub fn name(&mut self, field: &str, value: &str) {
        if value.len() > MAX_NAME_LEN {
            self.fail(field, format!("must be at most {MAX_NAME_LEN} bytes"));
        }
        if value.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
    }

    /// An app code: `^[a-z][a-z0-9_]{0,49}$`.
    pub fn app_code(&mut self, field: &str, value: &str) {
        if !is_app_code(value) {
            self.fail(field, "must match ^[a-z][a-z0-9_]{0,49}$");
        }
    }

    /// The problems found so far.
    pub fn finish(self) -> Vec<Problem> {
        self.problems
    }
}

/// Why `value` is not a valid identifier, if it is not.
pub fn id_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("must not be empty")
    } else if value.chars().count() > MAX_ID_LEN || value.len() > MAX_ID_BYTES {
        Some("must be at most 128 characters")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// Whether `value` is a well-formed app code.
pub fn is_app_code(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some('a'..='z'))
        && value.len() <= 50
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_contract() {
        assert_eq!(id_problem(""), Some("must not be empty"));
        assert_eq!(id_problem(&"x".repeat(129)), Some("must be at most 128 characters"));
        assert_eq!(id_problem("a\u{7}b"), Some("must not contain control characters"));
        assert_eq!(id_problem("6f0c2c1e-1c1b-4d52-9f0e-2d8a4c9b7e11"), None);
    }

    #[test]
    fn app_codes_follow_the_contract() {
        assert!(is_app_code("affiliate_connect"));
        assert!(!is_app_code("CRM"));
        assert!(!is_app_code("1crm"));
        assert!(!is_app_code(""));
        assert!(!is_app_code(&format!("a{}", "b".repeat(50))));
    }
}
