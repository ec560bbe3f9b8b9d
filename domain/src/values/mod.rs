//! Value types: raw input is parsed once at the edge into these; everything past the edge
//! can rely on them being valid.

pub mod document;
pub mod email;
pub mod language;
pub mod name;
pub mod password;
pub mod phone;
pub mod secret;
pub mod security_question;

pub use document::{
    document_number_digest, mask_document_number, normalize_document_number, Document,
    DocumentError, DocumentSummary, DocumentType, KeyedHasher,
};
pub use email::{mask_email, Email, EmailError};
pub use language::Language;
pub use name::{NameError, PersonName};
pub use password::{Password, PasswordContext, PasswordError, PasswordStrength};
pub use phone::{mask_phone, Phone, PhoneError};
pub use secret::Secret;
pub use security_question::{
    normalize_answer, parse_security_questions, SecurityQuestionAnswer, SecurityQuestionError,
};
