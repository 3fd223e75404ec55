//! The pages, rendered on the server as plain HTML with inline CSS (no script; works on a
//! phone-sized screen). Numbers a test or a reader checks carry stable element ids.

use crate::join::FieldError;
use crate::lang::{self, Lang, tr};
use crate::model::{
    BALANCE_INTERVAL, Balance, Comparison, HouseholdView, LeaderboardRow, OperatorData,
    RegionBalance, format_day, format_time,
};
use crate::svg;
use crate::words;
use std::collections::BTreeMap;
use std::fmt::Write;
use zeal_game::journey::Stage;
use zeal_grid::detect::Detector;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2a24;background:#f4f7f2}
header{background:#1f6f4a;color:#fff;padding:.7rem 1rem}
header a{color:#fff;text-decoration:none;font-weight:700}
nav{display:inline}/* labels never break inside; the spaces between them may */nav a{color:#e3f4ea;margin-left:.9rem;font-size:.9rem;white-space:nowrap}
a.lang{float:right;color:#fff;font-size:.9rem;margin-left:.9rem}
form.signout{display:inline}form.signout button{margin:0 0 0 .9rem;padding:.1rem .5rem;width:auto;font-size:.85rem;background:#e3f4ea;color:#1f6f4a}
main{max-width:42rem;margin:0 auto;padding:1rem}
section{background:#fff;border-radius:.6rem;padding:.9rem 1rem;margin:0 0 1rem;box-shadow:0 1px 2px #0001}
h1{font-size:1.4rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:0 0 .6rem}
.big{font-size:1.9rem;font-weight:700}.muted{color:#5d6b64;font-size:.88rem}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.6rem}
.stat{background:#f4f7f2;border-radius:.5rem;padding:.5rem .7rem}
.stages{display:flex;gap:.3rem;flex-wrap:wrap;padding:0;list-style:none;margin:0 0 .5rem}
.stages li{padding:.2rem .55rem;border-radius:1rem;background:#e6ece8;font-size:.85rem}
.stages li.done{background:#b9e3c9}.stages li.current{background:#1f6f4a;color:#fff;font-weight:700}
table{border-collapse:collapse;width:100%;font-size:.92rem}td,th{padding:.3rem .4rem;border-bottom:1px solid #e3e9e5;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{width:100%;height:auto;display:block}
svg .own{fill:#3a9d6a}svg .device{fill:#4f7fbf}svg .grid{stroke:#e3e9e5}
svg .average{stroke:#b8651a;fill:#b8651a;stroke-width:2}svg polyline.average,svg polyline.efficient{fill:none}
svg .efficient{stroke:#6a4fbf;fill:#6a4fbf;stroke-width:2;stroke-dasharray:4 3}
svg text{font-size:9px;fill:#5d6b64}svg .tick{text-anchor:end}svg .day{text-anchor:middle}svg .label,svg .value{font-size:11px;fill:#1d2a24}
svg .bal{stroke:#2f5f8f;fill:none;stroke-width:1.5}svg circle.bal{fill:#2f5f8f;stroke:none}svg .zero{stroke:#5d6b64}
svg .alertband{fill:#fbe3e0}svg .alertbar,svg .alertpt{fill:#b3261e}
.scroll{overflow-x:auto}h3{font-size:.95rem;margin:.8rem 0 .3rem}
svg.bar{width:100%;height:.5rem}svg.bar .track{fill:#e6ece8}svg.bar .fill{fill:#3a9d6a}
.legend span{margin-right:.8rem;font-size:.85rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.25rem;vertical-align:-1px}
form label{display:block;margin:.7rem 0 .2rem;font-weight:600}
input[type=text],input[type=password],select{width:100%;padding:.55rem;font-size:1rem;border:1px solid #b8c4bd;border-radius:.4rem}
.check{display:flex;gap:.5rem;align-items:flex-start;margin:.7rem 0;font-weight:400}
.check input{margin-top:.3rem}
button{margin-top:1rem;padding:.7rem 1.2rem;font-size:1rem;border:0;border-radius:.5rem;background:#1f6f4a;color:#fff;width:100%}
.error{color:#a3261b;font-size:.9rem;margin:.2rem 0}
.badge{display:inline-block;background:#fff4d6;border:1px solid #f0d27a;border-radius:1rem;padding:.15rem .6rem;margin:.15rem;font-size:.85rem}
";

/// Who is looking, for the navigation bar: households see their own pages and a sign-out
/// button; the operator the operator page; nobody signed in no links at all.
#[derive(Debug, Clone, Default)]
pub enum Nav {
    #[default]
    Anonymous,
    Household {
        id: String,
        region: String,
        csrf: String,
    },
    Operator {
        csrf: String,
    },
}

impl Nav {
    fn links(&self) -> String {
        let signout = |csrf: &str| {
            format!(
                "<form method=\"post\" action=\"/signout\" class=\"signout\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form>",
                esc(csrf),
                tr("Sign out", "Afmelden")
            )
        };
        match self {
            Nav::Anonymous => String::new(),
            Nav::Household { id, region, csrf } => format!(
                "<nav> <a href=\"/household/{0}\">{3}</a> <a href=\"/join\">{4}</a> \
                 <a href=\"/leaderboard/{1}\">{5}</a> {2}</nav>",
                esc(id),
                esc(region),
                signout(csrf),
                tr("My page", "Mijn pagina"),
                tr("Settings", "Instellingen"),
                tr("Leaderboard", "Ranglijst"),
            ),
            Nav::Operator { csrf } => format!(
                "<nav> <a href=\"/operator\">{}</a> <a href=\"/leaderboard\">{}</a> {}</nav>",
                tr("Operator", "Beheer"),
                tr("Leaderboards", "Ranglijsten"),
                signout(csrf)
            ),
        }
    }

    /// The hidden CSRF field for this viewer's forms (empty when nobody is signed in).
    pub fn csrf_field(&self) -> String {
        match self {
            Nav::Anonymous => String::new(),
            Nav::Household { csrf, .. } | Nav::Operator { csrf } => format!(
                "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
                esc(csrf)
            ),
        }
    }
}

/// A whole page, in the language of the request, with the switch to the other language.
pub fn page(title: &str, nav: &Nav, body: &str) -> String {
    let lang = lang::current();
    format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Energenies</title><style>{CSS}</style></head><body>\
         <header><a href=\"/\">Energenies</a>{}{}</header>\
         <main>{body}</main></body></html>",
        esc(title),
        switch(lang.other()),
        nav.links(),
        code = lang.code(),
    )
}

/// The link that shows the page being answered in `to` (named in `to`'s own language).
fn switch(to: Lang) -> String {
    format!(
        "<a class=\"lang\" id=\"lang-switch\" href=\"/language/{0}?back={1}\" lang=\"{0}\" hreflang=\"{0}\">{2}</a>",
        to.code(),
        esc(&lang::query_value(&lang::back())),
        to.own_name()
    )
}

/// A page that explains what went wrong and what to do.
pub fn problem(title: &str, nav: &Nav, explanation: &str) -> String {
    page(
        title,
        nav,
        &format!(
            "<section id=\"problem\"><h1>{}</h1><p>{}</p><p><a href=\"/\">{}</a></p></section>",
            esc(title),
            esc(explanation),
            tr("Back to the start", "Terug naar het begin")
        ),
    )
}

/// The start page: households arrive signed in from their utility's portal.
pub fn index(nav: &Nav) -> String {
    let mut s = String::from(tr(
        "<section><h1>Your energy, your journey</h1><p>Energenies shows how your household uses \
         energy, compares it with your neighbours — from totals that nobody, not even us, can \
         take apart — and takes you from a first look to prosumer hero.</p>",
        "<section><h1>Jouw energie, jouw reis</h1><p>Energenies laat zien hoe jouw huishouden \
         energie gebruikt, vergelijkt het met je buren — via totalen die niemand, ook wij niet, \
         uit elkaar kan halen — en neemt je mee van een eerste blik tot prosumer-held.</p>",
    ));
    match nav {
        Nav::Household { id, .. } => {
            let _ = write!(
                s,
                "<p><a href=\"/household/{}\" id=\"my-page\">{}</a></p>",
                esc(id),
                tr("Go to your page", "Naar je pagina")
            );
        }
        Nav::Operator { .. } => {
            let _ = write!(
                s,
                "<p><a href=\"/operator\">{}</a></p>",
                tr("Operator page", "Beheerpagina")
            );
        }
        Nav::Anonymous => s.push_str(tr(
            "<p id=\"signin-hint\">Open Energenies from your utility's customer portal: it \
             signs you in to your own household's page.</p>",
            "<p id=\"signin-hint\">Open Energenies vanuit het klantportaal van je \
             energiebedrijf: dat meldt je aan op de pagina van je eigen huishouden.</p>",
        )),
    }
    s.push_str("</section>");
    page(tr("Welcome", "Welkom"), nav, &s)
}

/// The join form (also the settings page of a household that joined), with the submitted
/// values and their problems when re-shown. The household and its region come from the
/// portal's sign-in, not from the form.
pub fn join_form(
    nav: &Nav,
    household: &str,
    region: &str,
    ask_code: bool,
    values: &BTreeMap<String, String>,
    errors: &[FieldError],
) -> String {
    let v = |k: &str| esc(values.get(k).map(String::as_str).unwrap_or(""));
    let e = |k: &str| -> String {
        errors
            .iter()
            .filter(|e| e.field == k)
            .map(|e| {
                format!(
                    "<p class=\"error\" id=\"error-{k}\">{}</p>",
                    esc(&field_problem(e))
                )
            })
            .collect()
    };
    let checked = |k: &str| {
        if values.get(k).is_some_and(|v| crate::join::ticked(v)) {
            " checked"
        } else {
            ""
        }
    };
    // A field with a problem points at it (read out with the field) and is marked invalid.
    let described = |k: &str| {
        if errors.iter().any(|e| e.field == k) {
            format!(" aria-invalid=\"true\" aria-describedby=\"error-{k}\"")
        } else {
            String::new()
        }
    };
    let body = format!(
        "<section><h1>{title}</h1>{summary}<form method=\"post\" action=\"/join\" id=\"join\">{csrf}\
         <p>{household_is}</p>\
         <label for=\"display_name\">{name_label}</label><input type=\"text\" id=\"display_name\" name=\"display_name\" maxlength=\"{max}\" value=\"{name}\"{dn}>{en}\
         <label class=\"check\"><input type=\"checkbox\" id=\"share_readings\" name=\"share_readings\"{c1}{ds}> <span>{consent}</span></label>{ec}\
{code}\
         <label class=\"check\"><input type=\"checkbox\" id=\"leaderboard\" name=\"leaderboard\"{c2}> <span>{named}</span></label>\
         <button type=\"submit\">{join}</button></form></section>",
        title = tr("Join Energenies", "Doe mee met Energenies"),
        summary = if errors.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"error\" id=\"form-problems\">{}</p>",
                tr(
                    "Please fix the fields marked below.",
                    "Verbeter de velden die hieronder gemarkeerd zijn."
                )
            )
        },
        csrf = nav.csrf_field(),
        household_is = lang::current().pick(
            format!(
                "Household <b id=\"join-household\">{}</b> in region <b id=\"join-region\">{}</b>, as your utility's portal signed you in.",
                esc(household),
                esc(region)
            ),
            format!(
                "Huishouden <b id=\"join-household\">{}</b> in regio <b id=\"join-region\">{}</b>, zoals het portaal van je energiebedrijf je aanmeldde.",
                esc(household),
                esc(region)
            )
        ),
        name_label = tr("Display name", "Weergavenaam"),
        consent = tr(
            "I consent to Energenies using my meter's 15-minute readings to show me my use, my \
             devices and my game. They are never shown to anyone else; neighbours are compared \
             through private region totals only.",
            "Ik geef Energenies toestemming de kwartierstanden van mijn meter te gebruiken om mij \
             mijn verbruik, mijn apparaten en mijn spel te laten zien. Ze worden nooit aan iemand \
             anders getoond; buren worden alleen via besloten regiototalen vergeleken."
        ),
        named = tr(
            "Show my display name and points on my region's leaderboard.",
            "Toon mijn weergavenaam en punten op de ranglijst van mijn regio."
        ),
        join = tr("Join", "Meedoen"),
        name = v("display_name"),
        en = e("display_name"),
        c1 = checked("share_readings"),
        ec = e("share_readings"),
        c2 = checked("leaderboard"),
        dn = described("display_name"),
        ds = described("share_readings"),
        max = crate::join::MAX_NAME,
        code = if ask_code {
            format!(
                "<label for=\"pairing_code\">{}</label>\
                 <input type=\"text\" id=\"pairing_code\" name=\"pairing_code\" autocomplete=\"off\" value=\"{}\"{}>\
                 <p class=\"muted\">{}</p>{}\
                 <label class=\"check\"><input type=\"checkbox\" id=\"share_history\" name=\"share_history\"{}> <span>{}</span></label>",
                tr("Pairing code from your gateway", "Koppelcode van je gateway"),
                v("pairing_code"),
                described("pairing_code"),
                tr(
                    "Your meter's gateway shows an 8-character code such as 7KQ2-M9XD. It tells \
                     the gateway that the consent comes from your home: nobody else, your utility \
                     included, can start sharing your readings. Each code works once. It shows a \
                     second code for sharing the readings it already holds as well.",
                    "De gateway van je meter toont een code van 8 tekens, zoals 7KQ2-M9XD. Daaraan \
                     ziet de gateway dat de toestemming uit jouw huis komt: niemand anders, ook je \
                     energiebedrijf niet, kan het delen van je meterstanden starten. Elke code \
                     werkt één keer. Een tweede code deelt ook de standen die hij al bewaart."
                ),
                e("pairing_code"),
                checked("share_history"),
                tr(
                    "Also share the readings my gateway already holds (type the gateway's second \
                     code above).",
                    "Deel ook de standen die mijn gateway al bewaart (typ hierboven de tweede code \
                     van de gateway)."
                )
            )
        } else {
            String::new()
        },
    );
    page(tr("Join", "Meedoen"), nav, &body)
}

/// A join form problem in the page's language.
fn field_problem(e: &FieldError) -> String {
    if lang::current() == Lang::En {
        return e.message.clone();
    }
    match e.code {
        "name_missing" => "Geef een weergavenaam.".to_string(),
        "name_too_long" => format!(
            "Houd de weergavenaam op hooguit {} tekens.",
            crate::join::MAX_NAME
        ),
        "name_control" => "De weergavenaam mag geen stuurtekens bevatten.".to_string(),
        "name_invisible" => {
            "De weergavenaam mag geen onzichtbare of richtingwisselende tekens bevatten."
                .to_string()
        }
        "consent_missing" => "Energenies heeft je toestemming nodig om de standen van je meter \
             te gebruiken: zonder is er niets om je te laten zien. Je meterstanden worden nooit \
             aan iemand anders getoond."
            .to_string(),
        "code_missing" => {
            "Vul de code van 8 tekens in die je gateway toont (zoals 7KQ2-M9XD).".to_string()
        }
        _ => e.message.clone(),
    }
}

/// The operator's sign-in form (the operator token), with a problem when re-shown.
pub fn operator_signin(problem: Option<&str>) -> String {
    let error = problem
        .map(|p| format!("<p class=\"error\" id=\"error-token\">{}</p>", esc(p)))
        .unwrap_or_default();
    let described = if problem.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"error-token\""
    } else {
        ""
    };
    let title = tr("Operator sign-in", "Aanmelden voor beheer");
    page(
        title,
        &Nav::Anonymous,
        &format!(
            "<section><h1>{title}</h1><form method=\"post\" action=\"/operator/signin\" id=\"operator-signin\">\
             <label for=\"token\">{}</label><input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\"{described}>{error}\
             <button type=\"submit\">{}</button></form></section>",
            tr("Operator token", "Beheertoken"),
            tr("Sign in", "Aanmelden"),
        ),
    )
}

fn kwh(v: Option<f64>) -> String {
    v.map(|v| lang::number(v, 2)).unwrap_or_else(|| "–".into())
}

fn comparison(prefix: &str, label: &str, c: &Comparison) -> String {
    let verdict = match (c.average_kwh, c.efficient_kwh) {
        (_, Some(e)) if c.own_kwh <= e => tr(
            "Among the most efficient 20 % of your region.",
            "Bij de zuinigste 20 % van je regio.",
        ),
        (Some(a), _) if c.own_kwh < a => tr(
            "Less than the average household in your region.",
            "Minder dan het gemiddelde huishouden in je regio.",
        ),
        (Some(_), _) => tr(
            "More than the average household in your region.",
            "Meer dan het gemiddelde huishouden in je regio.",
        ),
        _ => tr(
            "The region's totals for this period are not in yet.",
            "De totalen van je regio voor deze periode zijn er nog niet.",
        ),
    };
    format!(
        "<h2>{label}</h2><div class=\"grid2\">\
         <div class=\"stat\"><div class=\"muted\">{you}</div><span class=\"big\" id=\"{prefix}-kwh\">{own}</span> kWh</div>\
         <div class=\"stat\"><div class=\"muted\">{average}</div><span class=\"big\" id=\"{prefix}-average\">{avg}</span> kWh</div>\
         <div class=\"stat\"><div class=\"muted\">{efficient}</div><span class=\"big\" id=\"{prefix}-efficient\">{eff}</span> kWh</div>\
         </div><p id=\"{prefix}-verdict\">{verdict}</p>{note}",
        you = tr("You", "Jij"),
        average = tr("Average household", "Gemiddeld huishouden"),
        efficient = tr(
            "Efficient neighbours (best 20 %)",
            "Zuinige buren (beste 20 %)"
        ),
        own = lang::number(c.own_kwh, 2),
        avg = kwh(c.average_kwh),
        eff = kwh(c.efficient_kwh),
        note = if c.efficient_kwh.is_none() {
            tr(
                "<p class=\"muted\">The efficient-neighbour mark comes from the region's private daily \
                 histogram round, which has not run for this period.</p>",
                "<p class=\"muted\">De grens van de zuinige buren komt uit de besloten dagelijkse \
                 histogramronde van je regio, die voor deze periode nog niet heeft gedraaid.</p>",
            )
        } else {
            ""
        },
    )
}

/// A household's page.
pub fn household(nav: &Nav, v: &HouseholdView) -> String {
    let p = &v.profile;
    let st = &v.standing;
    let mut s = String::new();
    let _ = write!(
        s,
        "<section><h1 id=\"display-name\">{}</h1><p class=\"muted\">{} <span id=\"household-id\">{}</span> · {} <a href=\"/leaderboard/{4}\" id=\"region\">{4}</a>{5}</p>",
        esc(&p.display_name),
        tr("Household", "Huishouden"),
        esc(&p.household_id),
        tr("region", "regio"),
        esc(&p.region),
        if p.leaderboard {
            tr(" · on the leaderboard", " · op de ranglijst")
        } else {
            tr(" · not on the leaderboard", " · niet op de ranglijst")
        }
    );
    // Journey.
    s.push_str("<ol class=\"stages\">");
    for stage in Stage::ALL {
        let class = if stage == st.stage {
            "current"
        } else if stage < st.stage {
            "done"
        } else {
            ""
        };
        let _ = write!(s, "<li class=\"{class}\">{}</li>", words::stage(stage));
    }
    let _ = write!(
        s,
        "</ol><p>{}: <strong data-stage=\"{}\" id=\"stage\">{}</strong></p>",
        tr("Stage", "Fase"),
        st.stage.name(),
        words::stage(st.stage)
    );
    match &v.next {
        Some((next, criteria)) => {
            let _ = write!(
                s,
                "<p>{}: <strong>{}</strong> — {}</p><ul id=\"next-criteria\">",
                tr("Next", "Hierna"),
                words::stage(*next),
                esc(words::next_goal(st.stage))
            );
            for c in criteria {
                let _ = write!(
                    s,
                    "<li>{}: {} {} {} ({}){}</li>",
                    esc(words::criterion(c)),
                    c.have.min(c.need),
                    tr("of", "van"),
                    c.need,
                    tr("last 28 days", "laatste 28 dagen"),
                    svg::progress(f64::from(c.have) / f64::from(c.need.max(1)))
                );
            }
            s.push_str("</ul>");
        }
        None => {
            let _ = write!(
                s,
                "<p>{}</p>",
                tr(
                    "You are a hero. Keep it up!",
                    "Je bent een held. Ga zo door!"
                )
            );
        }
    }
    let into_level = st.points % zeal_game::rules::POINTS_PER_LEVEL;
    let _ = write!(
        s,
        "<div class=\"grid2\"><div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"points\">{}</span></div>\
         <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"level\">{}</span></div></div>\
         <p class=\"muted\">{}</p>{}</section>",
        tr("Points", "Punten"),
        st.points,
        tr("Level", "Niveau"),
        st.level,
        lang::current().pick(
            format!(
                "{into_level} of {} points to level {}",
                zeal_game::rules::POINTS_PER_LEVEL,
                st.level + 1
            ),
            format!(
                "{into_level} van {} punten tot niveau {}",
                zeal_game::rules::POINTS_PER_LEVEL,
                st.level + 1
            )
        ),
        svg::progress(f64::from(into_level) / f64::from(zeal_game::rules::POINTS_PER_LEVEL))
    );
    // Use against the neighbours.
    match (&v.today, &v.month) {
        (Some((day, today)), Some((month, m))) => {
            let _ = write!(
                s,
                "<section id=\"today\">{}<p class=\"muted\">{} <span id=\"today-day\">{}</span> (UTC).</p></section>",
                comparison("today", tr("Today", "Vandaag"), today),
                tr("Day", "Dag"),
                format_day(*day)
            );
            let _ = write!(
                s,
                "<section id=\"month\">{}<p class=\"muted\"><span id=\"month-name\">{}</span>: <span id=\"month-days\">{}</span> {}</p></section>",
                comparison("month", tr("This month", "Deze maand"), m),
                esc(month),
                m.days,
                tr("days with data.", "dagen met gegevens.")
            );
            let _ = write!(
                s,
                "<section><h2>{}</h2>{}<p class=\"legend\"><span><i style=\"background:#3a9d6a\"></i>{}</span><span><i style=\"background:#b8651a\"></i>{}</span><span><i style=\"background:#6a4fbf\"></i>{}</span></p>\
                 <p class=\"muted\">{}</p></section>",
                tr(
                    "Your days against the neighbours",
                    "Jouw dagen naast die van de buren"
                ),
                svg::daily_chart(&v.recent),
                tr("you", "jij"),
                tr("average household", "gemiddeld huishouden"),
                tr("efficient neighbours", "zuinige buren"),
                tr(
                    "Neighbours are compared through the region's private totals only: the total \
                     of all households divided by how many there are, and how many households fell \
                     in each consumption band. Nobody's own readings are used.",
                    "Buren worden alleen via de besloten totalen van de regio vergeleken: het totaal \
                     van alle huishoudens gedeeld door hun aantal, en hoeveel huishoudens in elke \
                     verbruiksklasse vielen. Niemands eigen meterstanden worden gebruikt."
                )
            );
            let _ = write!(
                s,
                "<section id=\"solar\"><h2>{}</h2><div class=\"grid2\">\
                 <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"today-export\">{}</span> kWh</div>\
                 <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"month-export\">{}</span> kWh</div>\
                 <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"today-solar-hours\">{}</span> kWh</div></div>{}{}</section>",
                tr("Solar", "Zon"),
                tr("Fed to the grid today", "Vandaag teruggeleverd"),
                lang::number(today.export_kwh, 2),
                tr("This month", "Deze maand"),
                lang::number(m.export_kwh, 2),
                tr(
                    "Used in sunny hours today (11-15)",
                    "Vandaag gebruikt in zonuren (11-15)"
                ),
                lang::number(today.solar_hours_kwh, 2),
                if m.export_kwh > 0.0 {
                    tr(
                        "<p>Your panels fed the grid this month: you are a prosumer.</p>",
                        "<p>Je panelen leverden deze maand terug aan het net: je bent een prosumer.</p>",
                    )
                } else {
                    tr(
                        "<p class=\"muted\">No export measured this month.</p>",
                        "<p class=\"muted\">Deze maand geen teruglevering gemeten.</p>",
                    )
                },
                own_generation(today, m)
            );
        }
        _ => s.push_str(tr(
            "<section id=\"no-data\"><h2>No days yet</h2><p>Your first complete day appears here \
             the day after your meter's readings arrive.</p></section>",
            "<section id=\"no-data\"><h2>Nog geen dagen</h2><p>Je eerste volledige dag verschijnt \
             hier de dag nadat de standen van je meter binnenkomen.</p></section>",
        )),
    }
    // Devices.
    match &v.breakdown {
        Some(b) if !b.appliances.is_empty() => {
            let _ = write!(
                s,
                "<section id=\"devices\"><h2>{} {}</h2>{}<table><tr><th>{}</th><th class=\"n\">kWh</th><th class=\"n\">{}</th></tr>",
                tr("Your devices on", "Je apparaten op"),
                format_day(b.day),
                svg::breakdown_chart(
                    &b.appliances
                        .iter()
                        .filter(|a| crate::model::confident(a.2))
                        .cloned()
                        .collect::<Vec<_>>()
                ),
                tr("device", "apparaat"),
                tr("confidence", "zekerheid")
            );
            for (name, e, conf) in &b.appliances {
                let energy = if crate::model::confident(*conf) {
                    lang::number(*e, 2)
                } else {
                    tr("not sure", "niet zeker").to_string()
                };
                let _ = write!(
                    s,
                    "<tr data-appliance=\"{0}\"><td>{1}</td><td class=\"n\">{energy}</td><td class=\"n\">{2:.0} %</td></tr>",
                    esc(name),
                    esc(&words::appliance(name)),
                    conf * 100.0
                );
            }
            s.push_str(tr(
                "</table><p class=\"muted\">Estimated from your 15-minute readings. Where the model \
                 cannot tell whether a device ran, it says \"not sure\" rather than guess.</p></section>",
                "</table><p class=\"muted\">Geschat uit je kwartierstanden. Waar het model niet kan \
                 zien of een apparaat aan stond, zegt het \"niet zeker\" in plaats van te gokken.</p></section>",
            ));
        }
        _ => s.push_str(tr(
            "<section id=\"devices\"><h2>Your devices</h2><p class=\"muted\">The device breakdown \
             appears after your first complete day.</p></section>",
            "<section id=\"devices\"><h2>Je apparaten</h2><p class=\"muted\">De verdeling over je \
             apparaten verschijnt na je eerste volledige dag.</p></section>",
        )),
    }
    // Badges and events.
    let _ = write!(
        s,
        "<section id=\"badges\"><h2>{}</h2>",
        tr("Badges", "Badges")
    );
    if v.badges.is_empty() {
        let _ = write!(
            s,
            "<p class=\"muted\">{}</p>",
            tr("No badges yet.", "Nog geen badges.")
        );
    }
    for badge in &v.badges {
        let _ = write!(
            s,
            "<span class=\"badge\" title=\"{}\">{} · {}</span>",
            esc(&words::reason(badge)),
            esc(&words::badge(&badge.code)),
            format_day(badge.day)
        );
    }
    let _ = write!(
        s,
        "</section><section id=\"events\"><h2>{}</h2><table>",
        tr("Latest awards", "Laatste beloningen")
    );
    for e in &v.latest {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            format_day(e.day),
            esc(&words::reason(e)),
            if e.points > 0 {
                format!("+{}", e.points)
            } else {
                String::new()
            }
        );
    }
    s.push_str("</table></section>");
    // The household's data: whether its gateway shares its readings, and how to stop.
    if p.share_readings {
        let _ = write!(
            s,
            "<section id=\"your-data\"><h2>{}</h2><p id=\"sharing\">{}</p><form method=\"post\" action=\"/consent/withdraw\" id=\"withdraw\">{}\
             <button type=\"submit\">{}</button></form></section>",
            tr("Your readings", "Je meterstanden"),
            tr(
                "You agreed to share your meter's 15-minute readings with Energenies; your \
                 gateway shares them once it has checked your pairing code.",
                "Je gaf toestemming de kwartierstanden van je meter met Energenies te delen; je \
                 gateway deelt ze zodra hij je koppelcode heeft gecontroleerd."
            ),
            nav.csrf_field(),
            tr(
                "Stop sharing my readings",
                "Stop met delen van mijn meterstanden"
            )
        );
    } else {
        s.push_str(tr(
            "<section id=\"your-data\"><h2>Your readings</h2><p id=\"sharing\">Your gateway does not share \
             your readings. <a href=\"/join\">Share them again</a> with a fresh code from your gateway.</p></section>",
            "<section id=\"your-data\"><h2>Je meterstanden</h2><p id=\"sharing\">Je gateway deelt je \
             meterstanden niet. <a href=\"/join\">Deel ze weer</a> met een nieuwe code van je gateway.</p></section>",
        ));
    }
    s.push_str(tr(
        "<section id=\"erase-data\"><h2>Your data</h2><p>You can have everything Energenies \
         keeps about your household erased: <a href=\"/erase\" id=\"erase-link\">Erase my data</a>.</p></section>",
        "<section id=\"erase-data\"><h2>Je gegevens</h2><p>Je kunt alles wat Energenies over je \
         huishouden bewaart laten wissen: <a href=\"/erase\" id=\"erase-link\">Wis mijn gegevens</a>.</p></section>",
    ));
    page(&p.display_name, nav, &s)
}

/// The page after a household withdrew its consent.
pub fn withdrawn(nav: &Nav, published: bool) -> String {
    let how = if published {
        tr(
            "Your gateway has been told: from now on every reading stays in your home. What was \
             shared before stays in your history until you ask for it to be erased.",
            "Je gateway is ingelicht: vanaf nu blijft elke meterstand in je huis. Wat eerder is \
             gedeeld, blijft in je geschiedenis tot je vraagt het te wissen.",
        )
    } else {
        tr(
            "This app is not connected to the gateways, so your utility must pass the withdrawal on.",
            "Deze app is niet met de gateways verbonden, dus je energiebedrijf moet de intrekking \
             doorgeven.",
        )
    };
    page(
        tr("You stopped sharing", "Je bent gestopt met delen"),
        nav,
        &format!(
            "<section id=\"withdrawn\"><h1>{}</h1><p>{}</p><p>{}</p></section>",
            tr(
                "You stopped sharing your readings",
                "Je bent gestopt met het delen van je meterstanden"
            ),
            esc(how),
            tr(
                "<a href=\"/join\">Share them again</a> (you will need a fresh code from your gateway).",
                "<a href=\"/join\">Deel ze weer</a> (je hebt dan een nieuwe code van je gateway nodig)."
            )
        ),
    )
}

/// What erasure does, and the button that does it.
pub fn erase_form(nav: &Nav) -> String {
    let title = tr("Erase my data", "Mijn gegevens wissen");
    let text = tr(
        "<p>Energenies will first tell your gateway to stop sharing your readings, then delete \
         your profile, your daily history, your points and badges and your devices' use. \
         This cannot be undone; you are signed out afterwards.</p>\
         <p>What stays: your region's totals (sums over many households, in which your \
         readings cannot be told apart), and a signed record that your data was erased, \
         when, and how many rows each table lost (none of the data itself). Readings already \
         shared stay on the utility's message log until its retention removes them \
         (30 days unless your utility says otherwise); Energenies never uses them again.</p>",
        "<p>Energenies vraagt eerst je gateway te stoppen met het delen van je meterstanden, en \
         wist dan je profiel, je dagelijkse geschiedenis, je punten en badges en het verbruik \
         van je apparaten. Dit kan niet ongedaan worden gemaakt; daarna ben je afgemeld.</p>\
         <p>Wat blijft: de totalen van je regio (sommen over veel huishoudens, waarin jouw \
         meterstanden niet te onderscheiden zijn), en een ondertekend bewijs dat je gegevens \
         zijn gewist, wanneer, en hoeveel rijen elke tabel verloor (niets van de gegevens zelf). \
         Al gedeelde meterstanden blijven in het berichtenlog van je energiebedrijf tot de \
         bewaartermijn ze verwijdert (30 dagen, tenzij je energiebedrijf anders zegt); \
         Energenies gebruikt ze nooit meer.</p>",
    );
    page(
        title,
        nav,
        &format!(
            "<section id=\"erase\"><h1>{title}</h1>{text}\
             <form method=\"post\" action=\"/erase\" id=\"erase-form\">{}\
             <button type=\"submit\">{}</button></form>\
             <p><a href=\"/\">{}</a></p></section>",
            nav.csrf_field(),
            tr("Erase my data now", "Wis mijn gegevens nu"),
            tr("Keep my data", "Mijn gegevens bewaren")
        ),
    )
}

/// The page after a household's data was erased: what left which table.
pub fn erased(tables: &[(&str, u64)], recorded: bool) -> String {
    let rows: String = tables
        .iter()
        .map(|(t, n)| format!("<tr><td>{}</td><td>{n}</td></tr>", esc(t)))
        .collect();
    let record = if recorded {
        tr(
            "A signed record of the erasure is kept, and your gateway was told to stop sharing.",
            "Er wordt een ondertekend bewijs van het wissen bewaard, en je gateway is gevraagd te \
             stoppen met delen.",
        )
    } else {
        tr(
            "This app is not connected to the gateways, so your utility must pass the withdrawal \
             on and keep the record of the erasure.",
            "Deze app is niet met de gateways verbonden, dus je energiebedrijf moet de intrekking \
             doorgeven en het bewijs van het wissen bewaren.",
        )
    };
    let title = tr("Your data was erased", "Je gegevens zijn gewist");
    page(
        title,
        &Nav::Anonymous,
        &format!(
            "<section id=\"erased\"><h1>{title}</h1>\
             <p>{} {}</p>\
             <table><caption>{}</caption><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr>{rows}</table>\
             <p>{}</p></section>",
            tr("You are signed out.", "Je bent afgemeld."),
            esc(record),
            tr("Rows deleted", "Gewiste rijen"),
            tr("Table", "Tabel"),
            tr("Rows", "Rijen"),
            tr(
                "To use Energenies again, sign in from your utility's portal and join with a fresh \
                 code from your gateway.",
                "Om Energenies weer te gebruiken, meld je je aan via het portaal van je \
                 energiebedrijf en doe je mee met een nieuwe code van je gateway."
            )
        ),
    )
}

/// The list of regions, each with its leaderboard.
pub fn leaderboards(nav: &Nav, regions: &[String]) -> String {
    let title = tr("Leaderboards", "Ranglijsten");
    let mut s = format!("<section><h1>{title}</h1><ul>");
    for r in regions {
        let _ = write!(s, "<li><a href=\"/leaderboard/{0}\">{0}</a></li>", esc(r));
    }
    if regions.is_empty() {
        let _ = write!(
            s,
            "<li class=\"muted\">{}</li>",
            tr("No region has totals yet.", "Nog geen regio heeft totalen.")
        );
    }
    s.push_str("</ul></section>");
    page(title, nav, &s)
}

/// A region's leaderboard.
pub fn leaderboard(nav: &Nav, region: &str, rows: &[LeaderboardRow]) -> String {
    let title = format!("{} {region}", tr("Leaderboard", "Ranglijst"));
    let mut s = format!(
        "<section><h1>{}</h1><p class=\"muted\">{}</p><table id=\"leaderboard\"><tr><th>#</th><th>{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        esc(&title),
        tr(
            "Only households that chose to be named are listed.",
            "Alleen huishoudens die ervoor kozen genoemd te worden staan erop."
        ),
        tr("household", "huishouden"),
        tr("stage", "fase"),
        tr("level", "niveau"),
        tr("points", "punten"),
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            s,
            "<tr data-household=\"{}\"><td>{}</td><td class=\"name\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n points\">{}</td></tr>",
            esc(&r.household_id),
            i + 1,
            esc(&r.display_name),
            words::stage(r.standing.stage),
            r.standing.level,
            r.standing.points
        );
    }
    s.push_str("</table>");
    if rows.is_empty() {
        let _ = write!(
            s,
            "<p>{}</p>",
            tr(
                "Nobody in this region has joined the leaderboard yet.",
                "Nog niemand in deze regio staat op de ranglijst."
            )
        );
    }
    s.push_str("</section>");
    page(&title, nav, &s)
}

/// The operator page.
pub fn operator(nav: &Nav, d: &OperatorData) -> String {
    let mut events: Vec<String> = d
        .regions
        .iter()
        .flat_map(|(_, v)| v.iter().map(|(e, _)| e.clone()))
        .collect();
    events.sort();
    events.dedup();
    let mut s = format!(
        "<section><h1>{}</h1><h2>{}</h2><table id=\"rounds\"><tr><th>{}</th>",
        tr("Operator", "Beheer"),
        tr("Rounds per region", "Rondes per regio"),
        tr("region", "regio"),
    );
    for e in &events {
        let _ = write!(s, "<th class=\"n\">{}</th>", esc(&e.to_lowercase()));
    }
    s.push_str("</tr>");
    for (region, counts) in &d.regions {
        let _ = write!(s, "<tr data-region=\"{0}\"><td>{0}</td>", esc(region));
        for e in &events {
            let n = counts
                .iter()
                .find(|(k, _)| k == e)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = write!(
                s,
                "<td class=\"n\" data-event=\"{}\">{n}</td>",
                esc(&e.to_lowercase())
            );
        }
        s.push_str("</tr>");
    }
    if d.regions.is_empty() {
        let _ = write!(
            s,
            "<tr><td class=\"muted\">{}</td></tr>",
            tr("No rounds recorded yet.", "Nog geen rondes vastgelegd.")
        );
    }
    s.push_str("</table></section>");
    s.push_str(&balance(&d.balance));
    let _ = write!(
        s,
        "<section><h2>{}</h2><table id=\"deferred\"><tr><th>{}</th><th>{}</th><th class=\"n\">{}</th><th>{}</th></tr>",
        tr("Deferred rounds (latest)", "Uitgestelde rondes (laatste)"),
        tr("region", "regio"),
        tr("interval (UTC)", "interval (UTC)"),
        tr("attempt", "poging"),
        tr("reason", "reden"),
    );
    for (region, t, attempt, reason) in &d.deferred {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{attempt}</td><td>{}</td></tr>",
            esc(region),
            format_time(*t),
            esc(reason)
        );
    }
    let _ = write!(
        s,
        "</table></section><section><h2>{}</h2><table id=\"quarantined\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        tr("Quarantined meters", "Meters in quarantaine"),
        tr("meter", "meter"),
        tr("region", "regio"),
        tr("round (UTC)", "ronde (UTC)"),
        tr("reason", "reden"),
    );
    for (region, meter, t, reason) in &d.quarantined {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(meter),
            esc(region),
            format_time(*t),
            esc(reason)
        );
    }
    let _ = write!(
        s,
        "</table></section><section><h2>{}</h2><table id=\"dead-letters\"><tr><th>{}</th><th class=\"n\">{}</th></tr>",
        tr("Dead letters by reason", "Geweigerde berichten per reden"),
        tr("reason", "reden"),
        tr("messages", "berichten"),
    );
    for (reason, n) in &d.dead_letters {
        let _ = write!(
            s,
            "<tr data-reason=\"{0}\"><td>{0}</td><td class=\"n\">{n}</td></tr>",
            esc(reason)
        );
    }
    if d.dead_letters.is_empty() {
        let _ = write!(
            s,
            "<tr><td class=\"muted\">{}</td><td></td></tr>",
            tr("None.", "Geen.")
        );
    }
    s.push_str("</table></section>");
    page(tr("Operator", "Beheer"), nav, &s)
}

/// `1 interval` or `n intervals` (`intervallen`).
pub(crate) fn intervals(n: usize) -> String {
    if n == 1 {
        "1 interval".to_string()
    } else {
        format!("{n} {}", tr("intervals", "intervallen"))
    }
}

/// The open grid-balance alerts and each region's balance chart with its text alternative.
fn balance(b: &Balance) -> String {
    if b.regions.is_empty() {
        return tr(
            "<section id=\"balance\"><h2>Grid balance</h2><p class=\"muted\">No grid balance \
             yet: <code>zeal jobs balance</code> writes it.</p></section>",
            "<section id=\"balance\"><h2>Netbalans</h2><p class=\"muted\">Nog geen netbalans: \
             <code>zeal jobs balance</code> schrijft die.</p></section>",
        )
        .to_string();
    }
    let mut s = lang::current().pick(
        format!(
            "<section id=\"open-alerts\"><h2>Open grid-balance alerts</h2><p class=\"muted\">An alert \
             stays open until {} quarter-hours in a row after it are quiet (z at most {}), as the \
             balance job closes it.</p>",
            Detector::QUIET,
            Detector::K
        ),
        format!(
            "<section id=\"open-alerts\"><h2>Open netbalansmeldingen</h2><p class=\"muted\">Een \
             melding blijft open tot {} kwartieren op rij erna rustig zijn (z hooguit {}), zoals \
             de balanstaak haar sluit.</p>",
            Detector::QUIET,
            Detector::K
        ),
    );
    if b.open.is_empty() {
        let _ = write!(
            s,
            "<p id=\"no-open-alerts\">{}</p>",
            tr("No open alerts", "Geen open meldingen")
        );
    } else {
        let _ = write!(
            s,
            "<div class=\"scroll\"><table id=\"alerts\"><tr><th>{}</th><th>{}</th>\
             <th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th>\
             <th class=\"n\">max z</th></tr>",
            tr("region", "regio"),
            tr("from (UTC)", "van (UTC)"),
            tr("to (UTC)", "tot (UTC)"),
            tr("intervals", "intervallen"),
            tr("unexplained Wh", "onverklaarde Wh"),
        );
        for a in &b.open {
            let _ = write!(
                s,
                "<tr data-region=\"{0}\"><td>{0}</td><td class=\"from\">{1}</td><td class=\"to\">{2}</td>\
                 <td class=\"n intervals\">{3}</td><td class=\"n wh\">{4:.0}</td><td class=\"n z\">{5}</td></tr>",
                esc(&a.region),
                format_time(a.first),
                format_time(a.end()),
                a.intervals,
                a.unexplained_wh,
                lang::number(a.max_z, 1)
            );
        }
        s.push_str("</table></div>");
    }
    s.push_str(tr(
        "</section><section id=\"balance\"><h2>Grid balance, last 7 days</h2><p class=\"muted\">\
         Per region, the energy its feeder meter measured that neither the households' private \
         total nor the expected technical losses explain, summed per hour.</p>\
         <p class=\"legend\"><span><i style=\"background:#2f5f8f\"></i>unexplained Wh per hour</span>\
         <span><i style=\"background:#b3261e\"></i>alert (shaded, bar and dots)</span></p>",
        "</section><section id=\"balance\"><h2>Netbalans, laatste 7 dagen</h2><p class=\"muted\">\
         Per regio de energie die de voedingsmeter mat en die noch het besloten totaal van de \
         huishoudens noch de verwachte technische verliezen verklaren, opgeteld per uur.</p>\
         <p class=\"legend\"><span><i style=\"background:#2f5f8f\"></i>onverklaarde Wh per uur</span>\
         <span><i style=\"background:#b3261e\"></i>melding (gearceerd, balk en stippen)</span></p>",
    ));
    for (i, r) in b.regions.iter().enumerate() {
        let id = format!("balance-{i}");
        let _ = write!(
            s,
            "<div class=\"region-balance\" data-region=\"{0}\"><h3>{0}</h3>{1}<p class=\"muted\" id=\"{id}-summary\">{2}</p></div>",
            esc(&r.region),
            svg::balance_chart(&id, r),
            esc(&balance_summary(r))
        );
    }
    s.push_str("</section>");
    s
}

/// A region's balance in words (the chart's text alternative).
fn balance_summary(r: &RegionBalance) -> String {
    let hours = r.hourly();
    let lo = hours.iter().map(|h| h.1).fold(f64::INFINITY, f64::min);
    let hi = hours.iter().map(|h| h.1).fold(f64::NEG_INFINITY, f64::max);
    let first = r.rows.first().map_or(r.newest, |row| row.start);
    let to = tr("to", "tot");
    let alerts = if r.runs.is_empty() {
        tr("no alert intervals", "geen meldingsintervallen").to_string()
    } else {
        let runs: Vec<String> = r
            .runs
            .iter()
            .map(|a| {
                format!(
                    "{} {to} {} ({}, {:.0} Wh)",
                    format_time(a.first),
                    format_time(a.end()),
                    intervals(a.intervals as usize),
                    a.unexplained_wh
                )
            })
            .collect();
        format!("{} {}", tr("alerts", "meldingen"), runs.join("; "))
    };
    format!(
        "{} {} {} {to} {} UTC; {} {lo:.0} {to} {hi:.0} Wh; {alerts}.",
        intervals(r.rows.len()),
        tr("from", "van"),
        format_time(first),
        format_time(r.newest + BALANCE_INTERVAL),
        tr(
            "unexplained energy per hour from",
            "onverklaarde energie per uur van"
        ),
    )
}

/// Self-consumption and self-sufficiency, where the household's inverter reports generation.
fn own_generation(today: &Comparison, month: &Comparison) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0}", v * 100.0));
    match today.generation_kwh {
        Some(g) => format!(
            "<h3>{}</h3><div id=\"generation\" class=\"grid2\">\
             <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"today-generation\">{generated}</span> kWh</div>\
             <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"today-self-consumption\">{}</span> %</div>\
             <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"today-self-sufficiency\">{}</span> %</div>\
             <div class=\"stat\"><div class=\"muted\">{}</div><span class=\"big\" id=\"month-self-sufficiency\">{}</span> %</div></div>",
            tr("Your own generation", "Je eigen opwek"),
            tr("Generated today", "Vandaag opgewekt"),
            tr(
                "Of it used at home (self-consumption)",
                "Daarvan thuis gebruikt (eigenverbruik)"
            ),
            pct(today.self_consumption),
            tr(
                "Your use from your own panels today (self-sufficiency)",
                "Je verbruik uit je eigen panelen vandaag (zelfvoorzienendheid)"
            ),
            pct(today.self_sufficiency),
            tr("Self-sufficiency this month", "Zelfvoorzienendheid deze maand"),
            pct(month.self_sufficiency),
            generated = lang::number(g, 2),
        ),
        None => tr(
            "<p class=\"muted\" id=\"no-generation\">Self-consumption and self-sufficiency need your \
             solar inverter's generation: a smart meter alone sees only what crosses it.</p>",
            "<p class=\"muted\" id=\"no-generation\">Voor eigenverbruik en zelfvoorzienendheid is \
             de opwek van je omvormer nodig: een slimme meter ziet alleen wat erdoorheen gaat.</p>",
        )
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere_it_is_shown() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let p = problem("Unknown <household>", &Nav::Anonymous, "No \"x\"");
        assert!(p.contains("Unknown &lt;household&gt;") && !p.contains("<household>"));
        assert!(p.contains("width=device-width"), "phone-sized viewport");
    }

    #[test]
    fn the_operator_page_shows_the_balance_or_says_there_is_none() {
        use crate::model::{Balance, BalanceRow};
        let nav = Nav::Operator { csrf: "c".into() };
        let none = operator(&nav, &OperatorData::default());
        assert!(none.contains("No grid balance yet") && !none.contains("open-alerts"));
        let t0 = 18_444 * 86_400;
        let row = |k: i64, alert: bool| BalanceRow {
            region: "NL-A".into(),
            start: t0 + k * 900,
            unexplained_wh: 100.0,
            z: 2.0 + k as f64,
            alert,
        };
        // An alert run followed by quiet intervals: closed.
        let quiet = |k: i64| BalanceRow {
            z: 0.5,
            ..row(k, false)
        };
        let mut rows = vec![row(0, true), row(1, true)];
        rows.extend((2..120).map(quiet));
        let d = OperatorData {
            balance: Balance::build(rows),
            ..OperatorData::default()
        };
        let page = operator(&nav, &d);
        assert!(page.contains("<p id=\"no-open-alerts\">No open alerts</p>"));
        assert!(
            page.contains("open until 4 quarter-hours in a row after it are quiet (z at most 1)")
        );
        assert!(page.contains("data-region=\"NL-A\"><h3>NL-A</h3><svg class=\"chart balance\""));
        assert!(page.contains(
            "id=\"balance-0-summary\">120 intervals from 2020-07-01 00:00 to 2020-07-02 06:00 UTC; \
             unexplained energy per hour from 400 to 400 Wh; alerts 2020-07-01 00:00 to \
             2020-07-01 00:30 (2 intervals, 200 Wh).</p>"
        ));
    }

    #[test]
    fn the_join_form_keeps_values_and_marks_fields() {
        let mut values = BTreeMap::new();
        values.insert("display_name".to_string(), "<b>".to_string());
        let errors = vec![FieldError {
            field: "share_readings",
            code: "consent_missing",
            message: "consent".into(),
        }];
        let nav = Nav::Household {
            id: "m1".into(),
            region: "R2".into(),
            csrf: "t0k\"".into(),
        };
        let f = join_form(&nav, "m1", "R2", false, &values, &errors);
        assert!(f.contains("value=\"&lt;b&gt;\""));
        assert!(f.contains("<b id=\"join-region\">R2</b>"));
        assert!(f.contains("id=\"error-share_readings\""));
        assert!(
            f.contains("name=\"share_readings\" aria-invalid=\"true\" aria-describedby=\"error-share_readings\""),
            "the problem is read out with its field"
        );
        assert!(!f.contains("id=\"error-display_name\""));
        assert!(!f.contains("aria-describedby=\"error-display_name\""));
        assert!(
            f.contains("<input type=\"hidden\" name=\"csrf\" value=\"t0k&quot;\">"),
            "the form carries the session's CSRF token"
        );
    }

    /// WCAG 2.1 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
    }

    /// Every colour a chart draws data in stands out from the white it is drawn on by at least
    /// 3:1 (WCAG 1.4.11, non-text contrast); the average line's orange did not (2.9:1).
    #[test]
    fn chart_colours_have_three_to_one_contrast() {
        for selector in [
            "svg .own{fill:",
            "svg .device{fill:",
            "svg .average{stroke:",
            "svg .efficient{stroke:",
            "svg .bal{stroke:",
            "svg .alertbar,svg .alertpt{fill:",
            "svg.bar .fill{fill:",
        ] {
            let at = CSS.find(selector).unwrap_or_else(|| panic!("{selector}")) + selector.len();
            let colour = &CSS[at..at + 7];
            let ratio = 1.05 / (luminance(colour) + 0.05);
            assert!(ratio >= 3.0, "{selector}{colour}: {ratio:.2}:1");
        }
        assert!(
            1.05 / (luminance("#d9822b") + 0.05) < 3.0,
            "the old orange fails"
        );
    }

    #[test]
    fn nobody_signed_in_sees_no_links_and_a_household_no_operator_link() {
        let anonymous = index(&Nav::Anonymous);
        assert!(!anonymous.contains("<nav>") && anonymous.contains("signin-hint"));
        let household = index(&Nav::Household {
            id: "m1".into(),
            region: "R2".into(),
            csrf: "c".into(),
        });
        assert!(household.contains("href=\"/household/m1\""));
        assert!(household.contains("action=\"/signout\""));
        assert!(!household.contains("/operator"));
    }
}
