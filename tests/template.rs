//! `template.yaml` defines exactly the table the code creates.

#[test]
fn template_contains_the_table_the_code_creates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template = std::fs::read_to_string(&path).expect("template.yaml exists at the repository root");
    let expected = shared::store::table::cloudformation_resource();
    assert!(
        template.contains(&expected),
        "template.yaml's Table resource differs from the code's table; it must contain exactly:\n{expected}"
    );
}
