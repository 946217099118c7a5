//! Templates: subject, HTML and text bodies rendered with `minijinja` from a message's
//! `data`. A template is compiled when saved, so a syntax error is reported then; a
//! variable missing from `data` is an error when sending, never an empty string. HTML
//! bodies escape what they insert; subject and text do not.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

/// The parts of a template, by the field names of the API.
pub(super) const PARTS: [&str; 3] = ["subject", "html", "text"];

fn environment<'a>() -> Environment<'a> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

/// Compiles one part; the error says what is wrong and on which line.
pub(super) fn check(part: &'static str, source: &str) -> Result<(), String> {
    let env = environment();
    env.template_from_named_str(part, source)
        .map(|_| ())
        .map_err(|e| format!("template syntax error: {}", describe(&e)))
}

/// Renders one part with `data` (a JSON object).
pub(super) fn render(part: &'static str, source: &str, data: &Value) -> Result<String, String> {
    let env = environment();
    let template = env
        .template_from_named_str(part, source)
        .map_err(|e| format!("template syntax error: {}", describe(&e)))?;
    template
        .render(data)
        .map_err(|e| format!("cannot render the template's {part}: {}", describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_escaping_html_only() {
        let data = json!({"name": "<Ada>", "items": [1, 2]});
        assert_eq!(
            render("html", "<p>Hi {{ name }}</p>", &data).unwrap(),
            "<p>Hi &lt;Ada&gt;</p>"
        );
        assert_eq!(render("text", "Hi {{ name }}", &data).unwrap(), "Hi <Ada>");
        assert_eq!(
            render("subject", "{{ items | length }} items", &data).unwrap(),
            "2 items"
        );
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let err = render("text", "Hi {{ nmae }}", &json!({"name": "Ada"})).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
        let err = render("text", "{{ user.email }}", &json!({"user": {}})).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = check("html", "<p>\n{{ name </p>").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(check("text", "{% for x in xs %}{{ x }}{% endfor %}").is_ok());
        assert!(check("text", "{% for x in xs %}").is_err());
    }
}
