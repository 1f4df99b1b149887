//! Coarse OS family of a label, for metrics labels and summaries (a small fixed set).
//!
//! Derived from the label's name and flavor text, case-insensitively: tools first,
//! then "android" in either, then the rules below on the name alone, then on the
//! flavor alone (so `MacOS X:10.9 (sometimes iPhone or iPad)` is macos); first rule
//! wins:
//! - tool / application labels (class `!`: nmap, masscan, zmap...)  -> tool
//! - a name starting with "Embedded" ("Embedded Linux IoT")        -> embedded
//! - "android" anywhere (p0f has `Linux:(Android)`)                -> android
//! - "windows"                                                     -> windows
//! - "ios" as the name, "iphone", "ipad"                           -> ios
//! - "mac os", "macos", "os x", "darwin"                           -> macos
//! - "linux"                                                       -> linux
//! - "bsd" (FreeBSD, OpenBSD, NetBSD, DragonFly BSD)               -> bsd
//! - embedded: nintendo, blackberry, playstation, xbox, printer, router, camera,
//!   switch, firewall, appliance, embedded, iot, vxworks, rtos, lwip, esp, cisco,
//!   juniper, mikrotik, tv, kindle, symbian, webos, tizen, roku            -> embedded
//! - anything else that names an OS (Solaris, HP-UX, AIX, Tru64, OpenVMS...) -> other
//! - no match at all                                               -> unknown

use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumIter, EnumCount,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum Family {
    Windows,
    Linux,
    Android,
    Macos,
    Ios,
    Bsd,
    Embedded,
    Other,
    /// A tool or application signature (class `!`: nmap, masscan, zmap, scapy): what
    /// sent the packet is a program, not an OS; a source's own family comes from its
    /// other verdicts.
    Tool,
    Unknown,
}

impl Family {
    /// The label value (metrics, JSON, API filters).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The family of a label (see the module comment for the rules).
    pub fn of_label(tool: bool, name: &str, flavor: &str) -> Family {
        if tool {
            return Family::Tool;
        }
        let n = name.to_ascii_lowercase();
        let fl = flavor.to_ascii_lowercase();
        // The database's own convention (osfp.fp header): "Embedded Linux IoT" is an
        // embedded device whatever kernel it runs.
        if n.starts_with("embedded") {
            return Family::Embedded;
        }
        if n.contains("android") || fl.contains("android") {
            return Family::Android;
        }
        // The name decides first ("MacOS X: 10.9 (sometimes iPhone)" is macOS); the
        // flavor only when the name says nothing.
        Self::of_text(&n, true)
            .or_else(|| Self::of_text(&fl, false))
            .unwrap_or(if n.trim().is_empty() {
                Family::Unknown
            } else {
                Family::Other
            })
    }

    fn of_text(t: &str, is_name: bool) -> Option<Family> {
        let has = |w: &str| t.contains(w);
        Some(if has("windows") {
            Family::Windows
        } else if (is_name && t == "ios") || has("iphone") || has("ipad") {
            Family::Ios
        } else if has("mac os") || has("macos") || has("os x") || has("darwin") {
            Family::Macos
        } else if has("linux") {
            Family::Linux
        } else if has("bsd") {
            Family::Bsd
        } else if EMBEDDED.iter().any(|w| word(t, w)) {
            Family::Embedded
        } else {
            return None;
        })
    }
}

const EMBEDDED: [&str; 25] = [
    "nintendo",
    "blackberry",
    "playstation",
    "xbox",
    "printer",
    "router",
    "camera",
    "switch",
    "firewall",
    "appliance",
    "embedded",
    "iot",
    "vxworks",
    "rtos",
    "lwip",
    "esp",
    "cisco",
    "juniper",
    "mikrotik",
    "tv",
    "kindle",
    "symbian",
    "webos",
    "tizen",
    "roku",
];

/// `w` occurs in `s` as a whole word (so "esp" does not match "despite").
fn word(s: &str, w: &str) -> bool {
    s.match_indices(w).any(|(i, _)| {
        let before = s[..i].chars().next_back();
        let after = s[i + w.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p0f_names() {
        let f = |n, fl| Family::of_label(false, n, fl);
        assert_eq!(f("Linux", "3.11 and newer"), Family::Linux);
        assert_eq!(f("Linux", "(Android)"), Family::Android);
        assert_eq!(f("Windows", "7 or 8"), Family::Windows);
        assert_eq!(f("Mac OS X", "10.x"), Family::Macos);
        assert_eq!(f("MacOS X", ""), Family::Macos);
        assert_eq!(
            f("MacOS X", "10.9 or newer (sometimes iPhone or iPad)"),
            Family::Macos
        );
        assert_eq!(f("iOS", "iPhone or iPad"), Family::Ios);
        assert_eq!(f("FreeBSD", "9.x"), Family::Bsd);
        assert_eq!(f("Nintendo", "Wii"), Family::Embedded);
        // osfp.fp's own names: the kind of device, not the kernel, decides.
        assert_eq!(
            f("Embedded Linux IoT", "Philips Hue Bridge"),
            Family::Embedded
        );
        assert_eq!(f("Embedded RTOS IoT", "Fitbit Aria"), Family::Embedded);
        assert_eq!(f("Solaris", "10"), Family::Other);
        assert_eq!(f("Despite", ""), Family::Other);
        assert_eq!(Family::of_label(true, "NMap", "SYN scan"), Family::Tool);
    }
}
