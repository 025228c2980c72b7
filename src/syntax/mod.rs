//! Syntax: the `.loyalty` text as a tree (`parse`) and back (`format`).

pub mod ast;
mod format;
mod parse;

pub use format::{format, print};
pub use parse::{
    block_statements, block_words, keywords, parse, parse_with_comments, syntax_errors, Comment,
};
