//! Word lists for demo people and places.

/// Given names.
pub const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Amara", "Noah", "Sofia", "Mateo", "Priya", "Lucas", "Chen", "Emma", "Kwame", "Isabella",
    "Yusuf", "Mia", "Hiroshi", "Ava", "Diego", "Fatima", "Ethan", "Ingrid", "Omar", "Chloe", "Ravi", "Zoe", "Tomasz",
    "Leila", "Samuel", "Aisha", "Jonas", "Elena",
];

/// Family names.
pub const LAST_NAMES: &[&str] = &[
    "Okafor",
    "Schmidt",
    "Garcia",
    "Nakamura",
    "Patel",
    "Johansson",
    "Rossi",
    "Kim",
    "Dubois",
    "Silva",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "O'Brien",
    "Mensah",
    "Fischer",
    "Costa",
    "Tanaka",
    "Ibrahim",
    "Larsen",
    "Moreau",
    "Singh",
    "Novak",
    "Alvarez",
    "Brown",
    "Yilmaz",
    "Murphy",
    "Andersen",
    "Chowdhury",
    "van Dijk",
];

/// Job titles.
pub const TITLES: &[&str] = &[
    "Account Executive",
    "Software Engineer",
    "Operations Analyst",
    "HR Generalist",
    "Accountant",
    "Warehouse Associate",
    "Marketing Specialist",
    "Product Manager",
    "Customer Success Manager",
    "Team Lead",
];

/// Cities used for locations, with their country codes and currencies.
pub const CITIES: &[(&str, &str, &str)] = &[
    ("New York", "US", "USD"),
    ("London", "GB", "GBP"),
    ("Berlin", "DE", "EUR"),
    ("Singapore", "SG", "SGD"),
    ("Toronto", "CA", "CAD"),
    ("Sydney", "AU", "AUD"),
    ("Lisbon", "PT", "EUR"),
    ("Nairobi", "KE", "KES"),
];

/// Department names.
pub const DEPARTMENTS: &[&str] = &["Sales", "Engineering", "Finance", "People", "Operations", "Marketing", "Support"];

/// Team names.
pub const TEAMS: &[&str] = &["Alpha", "Bravo", "Core", "Delta", "Growth", "Platform", "Field", "Enterprise"];
