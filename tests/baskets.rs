//! Baskets (`docs/semantics.md`, "Baskets"): purchases that list their
//! items, rules that earn per item, and the readers that join them. Every
//! figure is worked out by hand in the comment above it.

mod support;

use loyalty::engine::replay::Order;
use loyalty::events::Format;
use support::{d, explain, run, run_format, run_with};

/// The CSV header of the café's tests and ann's enrolment, on line 2.
const ANN_JOINS: &str =
    "id,time,member,type,amount,channel,sku,category,quantity,unit_price,discount
    e1,2025-03-01 08:00,ann,enroll,,,,,,,";

/// A café and shop: the per-item rule is written after a plain one, with
/// a `times` table by the purchase's channel, and rounds half up.
const CAFE: &str = ny!(r#"
event purchase {
  channel: text
}

points pts {
  precision 0
}

rule visit {
  on purchase
  earn 1 pts
}

rule pastry {
  on purchase
  earn 3 pts per 1 USD of item.amount where item.category = "pastry" times channel { "app": 2, else: 1 }
  round half up
}
"#);

#[test]
fn a_rule_sums_its_items_unrounded_then_rounds_once() {
    // In the app (times 2), two pastry lines: (2 × 1.15 − 0.20) × 3 × 2 =
    // 12.6 and 1 × 0.95 × 3 × 2 = 5.7; summed, 18.3 rounds half up to 18
    // (rounded per item it would be 13 + 6 = 19). The tea earns no pastry
    // points.
    let run = run(
        CAFE,
        &format!(
            "{ANN_JOINS}
         e2,2025-03-01 09:00,ann,purchase,5.10,app,,,,,
         e2,2025-03-01 09:00,ann,item,,,CROISSANT,pastry,2,1.15,0.20
         e2,2025-03-01 09:00,ann,item,,,TART,pastry,1,0.95,
         e2,2025-03-01 09:00,ann,item,,,TEA,drink,1,2.05,"
        ),
    );
    assert!(run.rejects.is_empty(), "{:?}", run.rejects);
    assert_eq!(
        run.rows("ann", &["earn"]),
        [
            "earn 2025-03-01T09:00:00-05:00 1 =1 visit",
            "earn 2025-03-01T09:00:00-05:00 18 =19 pastry",
        ]
    );
}

#[test]
fn rounding_once_keeps_many_small_lines_from_earning_nothing() {
    // Six skus of 0.30 USD at 3 points a dollar: 0.9 each, 5.4 in all,
    // rounded down to 5 (per item, each 0.9 would round down to 0).
    let program = ny!(r#"
points pts {
  precision 0
}

rule sweets {
  on purchase
  earn 3 pts per 1 USD of item.amount
}
"#);
    let mut events = String::from(
        "id,time,member,type,amount,sku,category,quantity,unit_price,discount\n\
         e1,2025-03-01 08:00,bo,enroll,,,,,,\n\
         e2,2025-03-01 09:00,bo,purchase,1.80,,,,,\n",
    );
    for n in 1..=6 {
        events.push_str(&format!(
            "e2,2025-03-01 09:00,bo,item,,S{n},sweets,1,0.30,\n"
        ));
    }
    let run = run(program, &events);
    assert_eq!(run.balance("bo", "pts"), d("5"));
}

/// A fuel station: per-quantity earning, proportional and in whole steps,
/// with a cap per item; the flat rule comes last.
const STATION: &str = ny!(r#"
points drops {
  precision 1
}

rule litres {
  on purchase
  earn 1 drops per 1 of item.quantity where item.category = "fuel"
  cap 50 drops per item
}

rule six_pack {
  on purchase
  earn 4 drops per full 6 items where item.sku = "WATER"
  limit 1 per member per day
}

rule half_pack {
  on purchase
  earn 4 drops per 6 items where item.sku = "WATER"
}

rule welcome {
  on purchase where first purchase
  earn 2 drops
}
"#);

#[test]
fn per_items_counts_quantity_proportionally_or_in_whole_steps_and_a_cap_cuts_each_item() {
    // Diesel 70 litres: 70 cut to 50 for that item; petrol 12.25 litres
    // under the cap: 12.25; both lines summed: 62.25, rounded down to one
    // decimal: 62.2. Water 13 bottles: 2 full six-packs (8) and 13 / 6 × 4
    // = 8.666… → 8.6 proportionally. The welcome: 2.
    let run = run(
        STATION,
        "id,time,member,type,amount,sku,category,quantity,unit_price,discount
         e1,2025-05-01 07:00,cy,enroll,,,,,,
         e2,2025-05-01 07:30,cy,purchase,160.00,,,,,
         e2,2025-05-01 07:30,cy,item,,DIESEL,fuel,70,1.699,
         e2,2025-05-01 07:30,cy,item,,PETROL,fuel,12.25,1.80,
         e2,2025-05-01 07:30,cy,item,,WATER,drinks,13,0.50,",
    );
    assert!(run.rejects.is_empty(), "{:?}", run.rejects);
    assert_eq!(
        run.rows("cy", &["earn"]),
        [
            "earn 2025-05-01T07:30:00-04:00 62.2 =62.2 litres",
            "earn 2025-05-01T07:30:00-04:00 8 =70.2 six_pack",
            "earn 2025-05-01T07:30:00-04:00 8.6 =78.8 half_pack",
            "earn 2025-05-01T07:30:00-04:00 2 =80.8 welcome",
        ]
    );
}

#[test]
fn a_rule_earning_only_on_items_does_not_fire_without_one_and_keeps_its_limit() {
    // e2 has no water: `six_pack` does not fire, so its daily limit is
    // still free for e3 (6 bottles: 4 drops), and explain says why.
    let events = "id,time,member,type,amount,sku,category,quantity,unit_price,discount
         e1,2025-05-01 07:00,di,enroll,,,,,,
         e2,2025-05-01 08:00,di,purchase,3.00,,,,,
         e2,2025-05-01 08:00,di,item,,COLA,drinks,2,1.50,
         e3,2025-05-01 09:00,di,purchase,3.00,,,,,
         e3,2025-05-01 09:00,di,item,,WATER,drinks,6,0.50,
         e4,2025-05-01 10:00,di,purchase,9.00,,,,,";
    let run = run(STATION, events);
    assert_eq!(
        run.rows("di", &["earn"]),
        [
            "earn 2025-05-01T08:00:00-04:00 2 =2 welcome",
            "earn 2025-05-01T09:00:00-04:00 4 =6 six_pack",
            "earn 2025-05-01T09:00:00-04:00 4 =10 half_pack",
        ]
    );
    let told = explain(STATION, events, "di");
    assert!(
        told.contains(
            "six_pack: nothing to earn: no item of the basket matches `item.sku = \"WATER\"`"
        ),
        "{told}"
    );
    assert!(
        told.contains("litres: nothing to earn: the purchase lists no items"),
        "{told}"
    );
}

#[test]
fn explain_shows_each_items_share_and_the_cut_per_item() {
    let told = explain(
        STATION,
        "id,time,member,type,amount,sku,category,quantity,unit_price,discount
         e1,2025-05-01 07:00,ed,enroll,,,,,,
         e2,2025-05-01 07:30,ed,purchase,200.00,,,,,
         e2,2025-05-01 07:30,ed,item,,DIESEL,fuel,70,1.699,",
        "ed",
    );
    assert!(
        told.contains("litres: 1 × 70 / 1, cut to 50 on item DIESEL = 50"),
        "{told}"
    );
    assert!(
        told.contains("purchase e2: amount 200.00, items \"DIESEL × 70\""),
        "{told}"
    );
}

/// A basket whose items are wrong is rejected whole, each row with its line.
#[test]
fn bad_baskets_are_rejected_whole_with_their_lines() {
    let run = run(
        CAFE,
        &format!(
            "{ANN_JOINS}
         e2,2025-03-01 09:00,ann,purchase,3.00,store,,,,,
         e2,2025-03-01 09:00,ann,item,,,TART,pastry,0,0.85,
         e3,2025-03-01 10:00,ann,purchase,1.00,store,,,,,
         e3,2025-03-01 10:00,ann,item,,,TART,pastry,2,0.85,
         e9,2025-03-01 11:00,ann,item,,,TART,pastry,1,0.85,
         e4,2025-03-01 12:00,ann,purchase,2.00,store,,,,,
         e4,2025-03-01 12:00,bob,item,,,TART,pastry,1,0.85,
         e5,2025-03-01 13:00,ann,purchase,2.00,store,,,,,
         e5,2025-03-01 13:00,ann,item,,,TART,pastry,1,0.85,0.90
         e6,2025-03-01 14:00,ann,purchase,2.00,store,,,,,"
        ),
    );
    let reasons: Vec<(usize, &str)> = run
        .rejects
        .iter()
        .map(|(line, reason)| (*line, reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (3, "an item of its basket is rejected (below), so the basket is incomplete"),
            (4, "`item` needs a `quantity` greater than 0, not 0"),
            (5, "an item of its basket is rejected (below), so the basket is incomplete"),
            (6, "the items of `e3` add up to more than its amount, 1.00"),
            (
                7,
                "an `item` row follows the purchase or return it belongs to, with its id, but no record `e9` is just before it"
            ),
            (8, "an item of its basket is rejected (below), so the basket is incomplete"),
            (9, "an `item` row has its purchase's member and time"),
            (10, "an item of its basket is rejected (below), so the basket is incomplete"),
            (11, "`item`'s discount 0.90 is more than its quantity × unit_price, 0.85"),
        ]
    );
    // Only the last purchase is applied: its visit point.
    assert_eq!(run.balance("ann", "pts"), d("1"));
}

#[test]
fn the_three_formats_read_the_same_basket() {
    // 2 × 1.15 − 0.20 = 2.10 at 3 a dollar: 6.3, rounded half up to 6,
    // and the visit's 1.
    let csv = run(
        CAFE,
        &format!(
            "{ANN_JOINS}
         e2,2025-03-01 09:00,ann,purchase,2.10,store,,,,,
         e2,2025-03-01 09:00,ann,item,,,CROISSANT,pastry,2,1.15,0.20"
        ),
    );
    let jsonl = run_format(
        CAFE,
        Format::Jsonl,
        r#"{"id": "e1", "time": "2025-03-01 08:00", "member": "ann", "type": "enroll"}
{"id": "e2", "time": "2025-03-01 09:00", "member": "ann", "type": "purchase", "amount": "2.10", "channel": "store", "items": [{"sku": "CROISSANT", "category": "pastry", "quantity": 2, "unit_price": "1.15", "discount": "0.20"}]}"#,
    );
    let yaml = run_format(
        CAFE,
        Format::Yaml,
        "- {id: e1, time: 2025-03-01 08:00, member: ann, type: enroll}
- id: e2
  time: 2025-03-01 09:00
  member: ann
  type: purchase
  amount: 2.10
  channel: store
  items:
    - {sku: CROISSANT, category: pastry, quantity: 2, unit_price: 1.15, discount: 0.20}
",
    );
    for run in [&csv, &jsonl, &yaml] {
        assert!(run.rejects.is_empty(), "{:?}", run.rejects);
        assert_eq!(run.balance("ann", "pts"), d("7"));
    }
    assert_eq!(csv.ledger, jsonl.ledger);
    assert_eq!(csv.ledger, yaml.ledger);
}

#[test]
fn a_listed_item_that_is_wrong_rejects_its_purchase_naming_the_item() {
    let jsonl = run_format(
        CAFE,
        Format::Jsonl,
        r#"{"id": "e1", "time": "2025-03-01 08:00", "member": "ann", "type": "enroll"}
{"id": "e2", "time": "2025-03-01 09:00", "member": "ann", "type": "purchase", "amount": "9", "channel": "app", "items": [{"sku": "A", "category": "pastry", "quantity": 1, "unit_price": 1}, {"sku": "B", "category": "pastry", "quantity": 1, "unit_pric": 1}]}
{"id": "e3", "time": "2025-03-01 09:00", "member": "ann", "type": "purchase", "amount": "9", "channel": "app", "items": ["A"]}
{"id": "e4", "time": "2025-03-01 09:00", "member": "ann", "type": "item", "sku": "A", "category": "pastry", "quantity": 1, "unit_price": 1}"#,
    );
    let reasons: Vec<&str> = jsonl.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "item 2 of `items`: `item` has no field `unit_pric`; did you mean `unit_price`?",
            "item 1 of `items`: it is not a map of fields",
            "an `item` record is a row of a CSV, Parquet or Arrow file right after its purchase; JSON Lines and YAML list a purchase's `items`",
        ]
    );
}

#[test]
fn a_money_return_of_an_itemized_purchase_takes_back_its_share_by_amount() {
    // 4 tarts at 1.00: 12 pastry points and the visit's 1. 1.00 of 4.00
    // back: a quarter of each award, 3 and 0.25 (rounded down: 0).
    let run = run(
        CAFE,
        "id,time,member,type,amount,channel,of,sku,category,quantity,unit_price,discount
         e1,2025-03-01 08:00,ann,enroll,,,,,,,,
         e2,2025-03-01 09:00,ann,purchase,4.00,store,,,,,,
         e2,2025-03-01 09:00,ann,item,,,,TART,pastry,4,1.00,
         e3,2025-03-02 09:00,ann,return,1.00,,e2,,,,,",
    );
    assert_eq!(
        run.rows("ann", &["reverse"]),
        ["reverse 2025-03-02T09:00:00-05:00 -3 =10 pastry"]
    );
}

/// ann's earn and reverse rows under `program`: a purchase of `amount`
/// listing one coffee at `unit_price`, then a return of `back` of it, by
/// money.
fn one_coffee_then_a_return(
    program: &str,
    amount: &str,
    unit_price: &str,
    back: &str,
) -> Vec<String> {
    let events = format!(
        "id,time,member,type,amount,of,sku,category,quantity,unit_price,discount
         e1,2025-03-01 08:00,ann,enroll,,,,,,,
         e2,2025-03-01 09:00,ann,purchase,{amount},,,,,,
         e2,2025-03-01 09:00,ann,item,,,S0,coffee,1,{unit_price},
         e3,2025-03-02 09:00,ann,return,{back},e2,,,,,"
    );
    run(program, &events).rows("ann", &["earn", "reverse"])
}

#[test]
fn a_per_item_step_is_exact_so_a_half_return_rounds_half_even_on_the_tie() {
    // 3.3 pts per 3 coffees on one coffee is 1.1 exactly, and the flat 3:
    // 4.1 pts. Half the money back takes back 2.05, which half even
    // rounds to 2.0. With 3.3 × (1 / 3) = 1.0999…9 the share came to
    // 2.0500…1 and was rounded up to 2.1.
    let program = ny!(r#"
points pts {
  precision 1
}
rule coffee {
  on purchase
  earn 3.3 pts per 3 items where item.category = "coffee"
  earn 3 pts
  round half even
}
"#);
    assert_eq!(
        one_coffee_then_a_return(program, "15.14", "14.635", "7.57"),
        [
            "earn 2025-03-01T09:00:00-05:00 4.1 =4.1 coffee",
            "reverse 2025-03-02T09:00:00-05:00 -2 =2.1 coffee",
        ]
    );
}

#[test]
fn a_money_return_of_an_award_on_items_is_the_award_times_the_money_share_exactly() {
    // 10 pts per 3 items on one coffee: 3.33…, paid 3. A third of the
    // money back takes back 3 × 1.00 / 3.00 = 1 exactly. Summed as the
    // items' part 3.33… × (1.00 / 3.00) = 1.11…1 over 3.33…, it came to
    // 0.99…9, which rounding down took back as 0.
    let program = ny!(r#"
points pts
rule coffee {
  on purchase
  earn 10 pts per 3 items
}
"#);
    assert_eq!(
        one_coffee_then_a_return(program, "3.00", "3.00", "1.00"),
        [
            "earn 2025-03-01T09:00:00-05:00 3 =3 coffee",
            "reverse 2025-03-02T09:00:00-05:00 -1 =2 coffee",
        ]
    );
}

#[test]
fn a_file_without_items_reads_as_before() {
    // No `sku` column: nothing is held back, every record as it was.
    let run = run(
        CAFE,
        "id,time,member,type,amount,channel
         e1,2025-03-01 08:00,ann,enroll,,
         e2,2025-03-01 09:00,ann,purchase,4.00,store
         e2,2025-03-01 09:30,ann,purchase,4.00,store",
    );
    assert_eq!(run.balance("ann", "pts"), d("1"));
    assert_eq!(run.reject_lines(), [4]);
}

#[test]
fn programs_with_baskets_format_to_themselves() {
    let source = ny!(r#"
points pts

rule pastry {
  on purchase
  earn 3 pts per full 2 items where item.category = "pastry" and item.unit_price >= 1 USD
  cap 10 pts per item
}

rule cups {
  on purchase
  earn 1 pts per item
}
"#);
    let formatted = loyalty::syntax::format(source).unwrap();
    assert_eq!(formatted, source);
    assert!(loyalty::check_source(source).is_empty());
}

#[test]
fn an_items_value_that_is_no_list_is_a_field_as_before_baskets() {
    // A program with a field of its own called `items`: a text there is
    // that field's value, in JSON Lines and in YAML alike.
    let program = ny!(r#"
event purchase {
  items: text
}

points pts

rule bags {
  on purchase where items = "bags"
  earn 2 pts
}
"#);
    let jsonl = run_format(
        program,
        Format::Jsonl,
        r#"{"id": "e1", "time": "2025-03-01 08:00", "member": "ann", "type": "enroll"}
{"id": "e2", "time": "2025-03-01 09:00", "member": "ann", "type": "purchase", "amount": "2", "items": "bags"}"#,
    );
    let yaml = run_format(
        program,
        Format::Yaml,
        "- {id: e1, time: 2025-03-01 08:00, member: ann, type: enroll}
- {id: e2, time: 2025-03-01 09:00, member: ann, type: purchase, amount: 2, items: bags}
",
    );
    for run in [&jsonl, &yaml] {
        assert!(run.rejects.is_empty(), "{:?}", run.rejects);
        assert_eq!(run.balance("ann", "pts"), d("2"));
    }
}

/// A toy shop whose rule has a line on the whole amount and one per item.
const TOYS: &str = ny!(r#"
points pts {
  precision 0
}

rule shop {
  on purchase
  earn 1 pts per 1 USD of amount
  earn 10 pts per 1 USD of item.amount where item.category = "toys"
}
"#);

#[test]
fn a_return_naming_items_takes_back_exactly_their_share() {
    // 50 USD: two toys at 10.00 and a 30.00 book. The award: 50 on the
    // amount + 10 × 20.00 on the toys = 250, the toys' part 200.
    // - one toy back (10.00): half the toys' part (100) and 10/50 of the
    //   amount's (10): 110;
    // - two toys more: only one is left (rejected); a puzzle: not bought;
    // - the book (30.00): no toy, 30/50 of the amount's part: 30;
    // - the last toy (10.00): 100 + 10 = 110, 250 in all.
    let run = run(
        TOYS,
        "id,time,member,type,amount,of,sku,category,quantity,unit_price,discount
         e1,2025-06-01 10:00,kai,enroll,,,,,,,
         e2,2025-06-01 11:00,kai,purchase,50.00,,,,,,
         e2,2025-06-01 11:00,kai,item,,,TOY-A,toys,2,10.00,
         e2,2025-06-01 11:00,kai,item,,,BOOK,books,1,30.00,
         r1,2025-06-02 11:00,kai,return,10.00,e2,,,,,
         r1,2025-06-02 11:00,kai,item,,,TOY-A,,1,,
         r2,2025-06-03 11:00,kai,return,20.00,e2,,,,,
         r2,2025-06-03 11:00,kai,item,,,TOY-A,,2,,
         r3,2025-06-03 12:00,kai,return,5.00,e2,,,,,
         r3,2025-06-03 12:00,kai,item,,,PUZZLE,,1,,
         r4,2025-06-04 11:00,kai,return,30.00,e2,,,,,
         r4,2025-06-04 11:00,kai,item,,,BOOK,,1,,
         r5,2025-06-05 11:00,kai,return,10.00,e2,,,,,
         r5,2025-06-05 11:00,kai,item,,,TOY-A,,1,,",
    );
    assert_eq!(
        run.rows("kai", &["earn", "reverse"]),
        [
            "earn 2025-06-01T11:00:00-04:00 250 =250 shop",
            "reverse 2025-06-02T11:00:00-04:00 -110 =140 shop",
            "reverse 2025-06-04T11:00:00-04:00 -30 =110 shop",
            "reverse 2025-06-05T11:00:00-04:00 -110 =0 shop",
        ]
    );
    let reasons: Vec<(usize, &str)> = run
        .rejects
        .iter()
        .map(|(line, reason)| (*line, reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                8,
                "return of 2 TOY-A is more than the 1 left to return of purchase `e2` (2 bought, 1 returned before)"
            ),
            (10, "purchase `e2` has no item `PUZZLE`"),
        ]
    );
}

#[test]
fn a_return_without_items_keeps_the_share_by_amount_and_a_listed_one_reads_alike() {
    // 25.00 of 50.00 back, no items named: half of 250 (toys' part and
    // the amount's alike), 125. Then the book, named, with 20.00
    // refunded: no toy named, so the toys' part gives nothing more; the
    // amount's part 50 × 20/50 = 20. A returned item that gives a price
    // is rejected: the purchase has it.
    let run = run_format(
        TOYS,
        Format::Jsonl,
        r#"{"id": "e1", "time": "2025-06-01 10:00", "member": "kai", "type": "enroll"}
{"id": "e2", "time": "2025-06-01 11:00", "member": "kai", "type": "purchase", "amount": "50.00", "items": [{"sku": "TOY-A", "category": "toys", "quantity": 2, "unit_price": "10.00"}, {"sku": "BOOK", "category": "books", "quantity": 1, "unit_price": "30.00"}]}
{"id": "r1", "time": "2025-06-02 11:00", "member": "kai", "type": "return", "of": "e2", "amount": "25.00"}
{"id": "r2", "time": "2025-06-03 11:00", "member": "kai", "type": "return", "of": "e2", "amount": "20.00", "items": [{"sku": "BOOK", "quantity": 1}]}
{"id": "r3", "time": "2025-06-03 12:00", "member": "kai", "type": "return", "of": "e2", "amount": "1.00", "items": [{"sku": "BOOK", "quantity": 1, "unit_price": "30.00"}]}"#,
    );
    assert_eq!(
        run.rows("kai", &["reverse"]),
        [
            "reverse 2025-06-02T11:00:00-04:00 -125 =125 shop",
            "reverse 2025-06-03T11:00:00-04:00 -20 =105 shop",
        ]
    );
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        ["item 1 of `items`: an item of a return names its `sku` and `quantity` only: the purchase has the rest"]
    );
}

#[test]
fn a_late_event_re_runs_a_member_with_its_baskets_and_item_returns_as_sorted() {
    // Streamed, e3 comes after the return it predates: kai is re-run from
    // the history, baskets and returned items included, and ends where
    // the sorted replay ends.
    let events = "id,time,member,type,amount,of,sku,category,quantity,unit_price,discount
         e1,2025-06-01 10:00,kai,enroll,,,,,,,
         e2,2025-06-01 11:00,kai,purchase,50.00,,,,,,
         e2,2025-06-01 11:00,kai,item,,,TOY-A,toys,2,10.00,
         e2,2025-06-01 11:00,kai,item,,,BOOK,books,1,30.00,
         r1,2025-06-03 11:00,kai,return,10.00,e2,,,,,
         r1,2025-06-03 11:00,kai,item,,,TOY-A,,1,,
         e3,2025-06-02 11:00,kai,purchase,4.00,,,,,,
         e3,2025-06-02 11:00,kai,item,,,TOY-B,toys,1,4.00,";
    let sorted = run_with(TOYS, events, Order::Sort, None);
    let streamed = run_with(TOYS, events, Order::Stream, None);
    // 250 + 44 − 110.
    assert_eq!(sorted.balance("kai", "pts"), d("184"));
    assert_eq!(streamed.balance("kai", "pts"), d("184"));
    assert!(streamed.rejects.is_empty(), "{:?}", streamed.rejects);
}

/// Per-item earning summed before rounding earns what the same rate on the
/// whole amount earns, for any basket whose items make up the amount; and
/// returning every item, by name and in any order, takes all of it back.
const TWINS: &str = ny!(r#"
points by_item {
  precision 0
}

points by_amount {
  precision 0
}

rule items {
  on purchase
  earn 3 by_item per 1 USD of item.amount
}

rule whole {
  on purchase
  earn 3 by_amount per 1 USD of amount
}
"#);

/// A basket line: quantity in tenths, unit price and discount in cents,
/// worth a cent at least once rounded (a return of an item worth nothing
/// would be rejected: 4.2 at 0.46 less 1.93 is 0.002, and was drawn).
fn line() -> impl proptest::strategy::Strategy<Value = (u32, u32, u32)> {
    use proptest::prelude::*;
    (1u32..60, 5u32..10_000).prop_flat_map(|(tenths, cents)| {
        // In tenths of a cent, the amount less the discount is at least 5.
        let gross = u64::from(tenths) * u64::from(cents);
        let most = u32::try_from(((gross - 5) / 10).min(1000)).unwrap_or(1000);
        (Just(tenths), Just(cents), 0..=most)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn items_earn_as_their_amount_and_come_back_whole(
        lines in proptest::collection::vec(line(), 1..5),
        order in proptest::sample::subsequence((0..4usize).collect::<Vec<_>>(), 0..=4),
    ) {
        let cents = |n: u32| d(&n.to_string()) / d("100");
        let tenths = |n: u32| d(&n.to_string()) / d("10");
        // Each item's amount to the cent, half away from zero, as read.
        let amounts: Vec<rust_decimal::Decimal> = lines
            .iter()
            .map(|&(q, p, off)| {
                (tenths(q) * cents(p) - cents(off))
                    .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            })
            .collect();
        let total: rust_decimal::Decimal = amounts.iter().sum();
        let mut events = format!(
            "id,time,member,type,amount,of,sku,category,quantity,unit_price,discount\n\
             e1,2025-06-01 10:00,kai,enroll,,,,,,,\n\
             e2,2025-06-01 11:00,kai,purchase,{total},,,,,,\n"
        );
        for (n, &(q, p, off)) in lines.iter().enumerate() {
            events.push_str(&format!(
                "e2,2025-06-01 11:00,kai,item,,,S{n},any,{},{},{}\n",
                tenths(q),
                cents(p),
                cents(off)
            ));
        }
        let bought = run(TWINS, &events);
        proptest::prop_assert!(bought.rejects.is_empty(), "{:?}", bought.rejects);
        proptest::prop_assert_eq!(
            bought.balance("kai", "by_item"),
            bought.balance("kai", "by_amount")
        );
        // Every item back, one return each, the order drawn (those not
        // drawn after them, in basket order).
        let drawn: Vec<usize> = order.into_iter().filter(|n| *n < lines.len()).collect();
        let rest = (0..lines.len()).filter(|n| !drawn.contains(n));
        let back: Vec<usize> = drawn.iter().copied().chain(rest).collect();
        for (r, n) in back.iter().enumerate() {
            let (q, _, _) = lines[*n];
            events.push_str(&format!(
                "r{r},2025-06-02 1{r}:00,kai,return,{},e2,,,,,\n\
                 r{r},2025-06-02 1{r}:00,kai,item,,,S{n},,{},,\n",
                amounts[*n],
                tenths(q)
            ));
        }
        let returned = run(TWINS, &events);
        proptest::prop_assert!(returned.rejects.is_empty(), "{:?}", returned.rejects);
        proptest::prop_assert_eq!(returned.balance("kai", "by_item"), d("0"));
        proptest::prop_assert_eq!(returned.balance("kai", "by_amount"), d("0"));
    }
}
