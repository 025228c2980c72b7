//! The checker: name resolution, types, currencies and ordering over a parsed
//! program. It never stops at the first mistake: every problem it can find is
//! reported, each with the span it is about and, where it can, a fix.

mod declarations;
mod expressions;
mod items;
mod rules;
pub(crate) mod suggest;
mod tiers;

pub use declarations::{BuiltinEvent, Symbols, REFERRED_BY};

use crate::currency::Currency;
use crate::diagnostic::{self, Diagnostic};
use crate::syntax::ast::{Expiry, File, Ident, Money, Number, Span};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Checks a parsed program; returns every error and warning, sorted by position.
pub fn check(file: &File) -> Vec<Diagnostic> {
    let mut checker = Checker::default();
    let symbols = Symbols::collect(file, &mut checker);
    items::check_program(file, &mut checker);
    items::check_survey(file, &symbols, &mut checker);
    items::check_points(file, &symbols, &mut checker);
    tiers::check_tiers(file, &symbols, &mut checker);
    rules::check_rules(file, &symbols, &mut checker);
    items::check_perks_and_rewards(file, &symbols, &mut checker);
    items::check_unused(file, &symbols, &mut checker);
    let mut diagnostics = checker.diagnostics;
    diagnostic::sort(&mut diagnostics);
    diagnostics
}

/// Collects diagnostics while the checks run.
#[derive(Default)]
pub(crate) struct Checker {
    diagnostics: Vec<Diagnostic>,
}

impl Checker {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reports a money literal in another currency than the program's.
    fn check_currency(&mut self, money: &Money, symbols: &Symbols) {
        if let Some(currency) = symbols.currency {
            if money.currency.node != currency {
                self.report(
                    Diagnostic::error(
                        "currency-mismatch",
                        money.currency.span,
                        format!(
                            "`{}` is not this program's currency, `{currency}`",
                            money.currency.node
                        ),
                    )
                    .with_label("another currency")
                    .with_help(format!(
                        "every amount of money in a program is in its currency: write `{} {currency}`",
                        money.amount.node
                    )),
                );
            }
        }
    }

    /// Reports an amount of money (a price, a cost, a threshold) in another
    /// currency than the program's, or finer than its minor unit: `4.505
    /// USD`, `100.5 JPY`. A point's value and a rate's `per` are not
    /// amounts and may be finer.
    fn check_amount(&mut self, money: &Money, symbols: &Symbols) {
        self.check_currency(money, symbols);
        let Some(currency) = Currency::of(&money.currency.node) else {
            return;
        };
        if !currency.holds(money.amount.node) {
            self.report(
                Diagnostic::error(
                    "money-decimals",
                    money.amount.span,
                    format!(
                        "`{} {currency}` is finer than {currency} allows: {}",
                        money.amount.node,
                        currency.unit_rule()
                    ),
                )
                .with_label(format!(
                    "finer than {} {currency}",
                    Decimal::new(1, currency.minor_units())
                ))
                .with_help(format!(
                    "round it to a whole number of minor units: `{} {currency}`",
                    currency.format(money.amount.node)
                )),
            );
        }
    }

    /// Reports a count that must be a whole number above zero; `what` names it.
    /// Returns whether it was valid.
    fn check_whole_positive(&mut self, number: &Number, what: &str) -> bool {
        self.check_whole(number, what, false)
    }

    /// Reports a count that must be a whole number, above zero unless
    /// `zero_allowed`; `what` names it. Returns whether it was valid.
    fn check_whole(&mut self, number: &Number, what: &str, zero_allowed: bool) -> bool {
        let too_small = if zero_allowed {
            number.node < Decimal::ZERO
        } else {
            number.node <= Decimal::ZERO
        };
        let too_large = number.node > Decimal::from(u32::MAX);
        if too_small || too_large || !number.node.fract().is_zero() {
            let kind = match (zero_allowed, too_large) {
                (_, true) => "a whole number up to 4294967295",
                (true, false) => "a whole number",
                (false, false) => "a whole number above zero",
            };
            self.report(
                Diagnostic::error(
                    "invalid-value",
                    number.span,
                    format!("{what} must be {kind}, not `{}`", number.node),
                )
                .with_label(format!("not {kind}")),
            );
            return false;
        }
        true
    }

    /// Reports an amount that must be above zero (decimals allowed).
    fn check_positive(&mut self, number: &Number, what: &str) {
        if number.node <= Decimal::ZERO {
            self.report(
                Diagnostic::error(
                    "invalid-value",
                    number.span,
                    format!("{what} must be above zero, not `{}`", number.node),
                )
                .with_label("must be above zero"),
            );
        }
    }

    /// Reports the second occurrence of something that may appear only once.
    /// The terms of an `expire` statement, of a points type or a rule:
    /// whole numbers above zero.
    fn check_expiry(&mut self, expiry: &Expiry) {
        match expiry {
            Expiry::AfterEarn { term, .. } => {
                self.check_whole_positive(&term.count, "an expiry term");
            }
            Expiry::Inactivity(d) => {
                self.check_whole_positive(&d.count, "an inactivity period");
            }
            Expiry::EndOf { plus: Some(n), .. } => {
                self.check_whole_positive(n, "the number of periods added");
            }
            Expiry::EndOf { plus: None, .. } | Expiry::Never => {}
        }
    }

    fn duplicate(&mut self, span: Span, what: &str) {
        self.report(
            Diagnostic::error("duplicate", span, format!("{what} is given twice"))
                .with_label("given again here")
                .with_help("keep only one of them"),
        );
    }

    /// Reports `name`, a `kind` declared one more time than the `most` a
    /// program may declare (`limits`).
    fn one_too_many(&mut self, kind: &str, name: &Ident, most: usize, help: &str) {
        self.report(
            Diagnostic::error(
                "too-long",
                name.span,
                format!(
                    "{kind} `{}` is one more than the {most} a program may declare",
                    name.node
                ),
            )
            .with_label("one too many")
            .with_help(help),
        );
    }

    /// Records a declared name; reports it if it was declared before.
    /// Returns whether the name was new.
    fn declare<'a>(
        &mut self,
        seen: &mut BTreeMap<&'a str, Span>,
        kind: &str,
        name: &'a Ident,
    ) -> bool {
        if seen.contains_key(name.node.as_str()) {
            self.report(
                Diagnostic::error(
                    "duplicate",
                    name.span,
                    format!("{kind} `{}` is declared twice", name.node),
                )
                .with_label("declared again here")
                .with_help("give each one its own name, or remove one of them"),
            );
            false
        } else {
            seen.insert(&name.node, name.span);
            true
        }
    }
}
