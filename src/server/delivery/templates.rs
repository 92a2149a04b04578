//! Email templates (`waymark serve --email-templates DIR`): for a send's content key `K`,
//! `DIR/K.txt` is the plain-text email — first line `Subject: …`, a blank line, the body —
//! and `DIR/K.html`, when present, its HTML alternative. Templates are Jinja (minijinja),
//! loaded and checked at start-up; HTML output is escaped, text is not. The context:
//! `site` (the object in `DIR/site.json`, when present: store name, URLs — the same for
//! every email), `shopper`, `customer_id`, `traits`, `journey`, `step`, `content`,
//! `incentive`, `decided_at`; a value that is not there renders empty, so
//! `{{ traits.first_name | default("there") }}` works. Traits are what the shopper's
//! browser sent: build links from `site`, never from `traits`. Files whose name starts
//! with `_` are partials (macros, layouts) for `{% import %}`, `{% include %}` and
//! `{% extends %}`, not emails. Blocks trim their own line (`trim_blocks`,
//! `lstrip_blocks`), and the `money` filter writes a price with its currency:
//! `{{ item.price | money(item.currency) }}` gives "€99.00". Runs of blank lines in
//! the text part collapse to one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

use super::{DeliveryError, Message};

/// What a template turns into.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEmail {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative, when the template set has one.
    pub html: Option<String>,
}

/// The compiled templates of a directory.
#[derive(Debug)]
pub struct EmailTemplates {
    dir: PathBuf,
    env: Environment<'static>,
    /// Content keys with an HTML alternative.
    html: BTreeSet<String>,
    /// `DIR/site.json`: values every email shares.
    site: Option<serde_json::Value>,
}

/// The file of values every email shares.
const SITE_FILE: &str = "site.json";

impl EmailTemplates {
    /// Reads and compiles every `*.txt` and `*.html` in `dir`. Errors name the file, the
    /// line and what to fix; nothing is half-loaded.
    pub fn load(dir: &Path) -> Result<EmailTemplates, DeliveryError> {
        let config = |what: String| DeliveryError::Config(format!("email templates: {what}"));
        let entries = std::fs::read_dir(dir).map_err(|e| config(format!("cannot list {}: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| config(format!("cannot list {}: {e}", dir.display())))?.path();
            if path.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("txt" | "html")) {
                files.push(path);
            }
        }
        files.sort();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build() {
            env.set_syntax(syntax);
        }
        env.add_filter("money", money);
        env.set_formatter(format_value);
        let mut text = BTreeSet::new();
        let mut html = BTreeSet::new();
        for path in &files {
            let source =
                std::fs::read_to_string(path).map_err(|e| config(format!("cannot read {}: {e}", path.display())))?;
            let (Some(key), Some(ext)) =
                (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|e| e.to_str()))
            else {
                continue;
            };
            let add = |env: &mut Environment<'static>, name: String, source: String, line_offset: usize| {
                env.add_template_owned(name, source).map_err(|e| {
                    let line = e.line().map(|l| format!(":{}", l + line_offset)).unwrap_or_default();
                    config(format!("{}{line}: {}", path.display(), e.detail().unwrap_or(&e.to_string())))
                })
            };
            if key.starts_with('_') {
                add(&mut env, format!("{key}.{ext}"), source, 0)?;
                continue;
            }
            if ext == "html" {
                add(&mut env, format!("{key}.html"), source, 0)?;
                html.insert(key.to_owned());
                continue;
            }
            let (first, rest) = source.split_once('\n').unwrap_or((source.as_str(), ""));
            let Some(subject) = first.trim_end_matches('\r').strip_prefix("Subject:") else {
                return Err(config(format!(
                    "{}:1: the first line must be the subject, as in \"Subject: Your cart is waiting, {{{{ traits.first_name }}}}\"",
                    path.display()
                )));
            };
            let body = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n')).unwrap_or(rest);
            let body_offset = if body.len() < rest.len() { 2 } else { 1 };
            add(&mut env, format!("{key}.subject"), subject.trim().to_owned(), 0)?;
            add(&mut env, format!("{key}.txt"), body.to_owned(), body_offset)?;
            text.insert(key.to_owned());
        }
        if let Some(orphan) = html.difference(&text).next() {
            return Err(config(format!(
                "{} has no {orphan}.txt: every email needs its text part, whose first line is the subject",
                dir.join(format!("{orphan}.html")).display()
            )));
        }
        let site = load_site(&dir.join(SITE_FILE)).map_err(config)?;
        let templates = EmailTemplates { dir: dir.to_path_buf(), env, html, site };
        templates.check_names(&text).map_err(config)?;
        Ok(templates)
    }

    /// Renders every template once for a shopper nobody knows anything about, so a
    /// misspelt filter, test or function fails the start instead of every send. Only
    /// unknown names count: what a filter makes of a missing value depends on the shopper.
    fn check_names(&self, keys: &BTreeSet<String>) -> Result<(), String> {
        use minijinja::ErrorKind;
        let context = self.context(serde_json::json!({}));
        let parts = keys.iter().flat_map(|key| {
            let html = self.html.contains(key).then_some((key, "html", "html"));
            [(key, "subject", "txt"), (key, "txt", "txt")].into_iter().chain(html)
        });
        for (key, part, file) in parts {
            let Ok(template) = self.env.get_template(&format!("{key}.{part}")) else { continue };
            let Err(e) = template.render(&context) else { continue };
            let unknown_name = matches!(
                e.kind(),
                ErrorKind::UnknownFilter
                    | ErrorKind::UnknownTest
                    | ErrorKind::UnknownFunction
                    | ErrorKind::UnknownMethod
                    | ErrorKind::TemplateNotFound
            );
            if unknown_name {
                let path = self.dir.join(format!("{key}.{file}"));
                return Err(format!("{}: {}", path.display(), e.detail().unwrap_or(&e.to_string())));
            }
        }
        Ok(())
    }

    /// The render context: `fields` plus `site`, with unknown (null) values left out so
    /// that `default(...)` applies to them.
    fn context(&self, mut fields: serde_json::Value) -> minijinja::Value {
        if let Some(object) = fields.as_object_mut() {
            object.retain(|_, v| !v.is_null());
            if let Some(site) = &self.site {
                object.insert("site".into(), site.clone());
            }
        }
        minijinja::Value::from(minijinja::value::Serde(fields))
    }

    /// Renders the email for a message; its `traits` and `customer_id` come from the
    /// shopper's freshest state.
    pub fn render(&self, message: &Message) -> Result<RenderedEmail, DeliveryError> {
        let key = &message.content;
        let template = |suffix: &str| {
            self.env.get_template(&format!("{key}.{suffix}")).map_err(|_| {
                DeliveryError::Template(format!(
                    "no email template \"{key}.txt\" in {} (content key of {}/{})",
                    self.dir.display(),
                    message.journey,
                    message.step
                ))
            })
        };
        let mut fields = serde_json::json!({
            "shopper": message.shopper,
            "customer_id": message.customer_id,
            "traits": message.traits,
            "journey": message.journey,
            "step": message.step,
            "content": message.content,
            "incentive": message.incentive,
            "decided_at": message.decided_at.to_rfc3339(),
        });
        // The products: items, cart, recommendations, search_term, price_drop.
        if let (Some(object), Some(products)) = (fields.as_object_mut(), message.context.as_object()) {
            for (key, value) in products {
                object.insert(key.clone(), value.clone());
            }
        }
        let context = self.context(fields);
        let render = |suffix: &str| {
            template(suffix)?.render(&context).map_err(|e| DeliveryError::Template(format!("{key}.{suffix}: {e}")))
        };
        Ok(RenderedEmail {
            subject: render("subject")?.lines().next().unwrap_or_default().trim().to_owned(),
            text: collapse_blank_lines(&render("txt")?),
            html: if self.html.contains(key) { Some(render("html")?) } else { None },
        })
    }
}

/// Writes a value into a template: in HTML, text is escaped for `&`, `<`, `>`, `"` and
/// `'` only, so a product link stays a readable URL (`https://shop.example/p/1`, not
/// `&#x2f;`-escaped slashes a link tracker or a reader would trip on).
fn format_value(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match (state.auto_escape(), value.as_str()) {
        (minijinja::AutoEscape::Html, Some(text)) if !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// A text part with runs of blank lines made one and none at its start, so that a
/// section left out (`{% if recommendations %}`) leaves no gap.
fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = true;
    for line in text.lines() {
        let blank = line.trim().is_empty();
        if blank && blank_run {
            continue;
        }
        blank_run = blank;
        out.push_str(if blank { "" } else { line.trim_end() });
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The `money` filter: a price with two decimals and its currency, as a symbol for the
/// common ones ("€99.00", "$5.50") and as a code after it otherwise ("99.00 CHF"). A
/// value that is not a number is shown as it is.
fn money(value: minijinja::Value, currency: Option<String>) -> String {
    let Ok(amount) = f64::try_from(value.clone()) else { return value.to_string() };
    let number = format!("{amount:.2}");
    match currency.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => number,
        Some(code) => match code.to_ascii_uppercase().as_str() {
            "EUR" => format!("€{number}"),
            "USD" => format!("${number}"),
            "GBP" => format!("£{number}"),
            "JPY" => format!("¥{amount:.0}"),
            other => format!("{number} {other}"),
        },
    }
}

/// Reads `site.json` when it exists: a JSON object, or an error naming file and line.
fn load_site(path: &Path) -> Result<Option<serde_json::Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}:{}: {e}", path.display(), e.line()))?;
    if !value.is_object() {
        return Err(format!(
            "{}: must be a JSON object of values every email shares, as in {{\"store_url\": \"https://shop.example\"}}",
            path.display()
        ));
    }
    Ok(Some(value))
}
