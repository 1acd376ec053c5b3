use thiserror::Error;

/// Why bytes could not be read as a standard logging payload.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The bytes are not JSON at all (or are truncated).
    #[error("not valid JSON: {message}")]
    Syntax {
        /// serde_json's description, with line and column.
        message: String,
    },
    /// Valid JSON, but not an object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found instead (`array`, `string`, `null`, …).
        found: &'static str,
    },
    /// Nested deeper than PostHog's parser accepts; refused before parsing,
    /// so no input can make the parser recurse that far.
    #[error("nested {depth} levels deep, more than the {limit} allowed")]
    TooDeep {
        /// How deep the entry nests (`{}` is 1).
        depth: usize,
        /// The limit, [`crate::payload::MAX_DEPTH`].
        limit: usize,
    },
    /// A field is missing, has the wrong type, or holds an impossible value.
    #[error("field `{field}`: {message}")]
    Field {
        /// Dotted path of the offending field, e.g. `metadata.usage_object.prompt_tokens`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl PayloadError {
    /// The dotted path of the offending field, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            PayloadError::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The same error, for a payload found at `parent` inside the bytes given.
    pub(crate) fn within(self, parent: &str) -> Self {
        match self {
            PayloadError::Field { field, message } => PayloadError::Field {
                field: format!("{parent}.{field}"),
                message,
            },
            other => other,
        }
    }

    /// Builds a field error from serde_path_to_error's report.
    pub(crate) fn from_path(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            return PayloadError::Syntax {
                message: inner.to_string(),
            };
        }
        let message = inner.to_string();
        let mut field = err.path().to_string();
        // A missing field is reported against its parent; name the field itself.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field == "." {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
        }
        PayloadError::Field { field, message }
    }
}
