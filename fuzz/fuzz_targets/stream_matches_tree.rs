//! The one-pass paths (YAML, JSON) must write exactly what the tree path writes, for every input
//! they accept: the same leaves, in the same order, with the same paths, rendered the same way.
#![no_main]
use kvsops::error::Error;
use kvsops::stores::{Format, StoreSettings};
use kvsops::tree::{walk_leaves, Leaf, LeafCtx, Scalar, Value};
use libfuzzer_sys::fuzz_target;

/// A visitor that changes some values (as decryption would) and keeps others, by path depth.
fn change(ctx: &LeafCtx<'_>, leaf: Leaf) -> Leaf {
    match leaf {
        Leaf::Scalar(Scalar { value, src }) => {
            let value = match value {
                Value::Str(s) if ctx.path.len() % 2 == 1 => Value::Str(format!("{s}: #x\n{}", ctx.aad())),
                Value::Int(i) => Value::Int(i.wrapping_mul(3)),
                Value::Bool(b) => Value::Bool(!b),
                Value::Float(f) => Value::Float(f / 2.0),
                v => v,
            };
            Leaf::Scalar(Scalar { value, src })
        }
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json] {
        let store = format.store(&StoreSettings::default());
        let Some(fast) = store.streamed(data) else { continue };
        if !matches!(fast.metadata(), Ok(None)) {
            continue;
        }
        let rewritten = fast.rewrite(&mut |ctx, leaf| Ok(change(ctx, leaf))).expect("rewrite");
        let Some(rewritten) = rewritten else { continue };
        let out = fast.finish(rewritten, None).expect("finish");
        let mut docs = store.load_plain(data).expect("the tree path reads what the one-pass path accepted");
        for d in docs.iter_mut() {
            walk_leaves::<Error, _>(&mut d.root, &mut |ctx, leaf| Ok(change(ctx, leaf))).expect("walk");
        }
        let tree = store.emit_plain(&docs, Some(data)).expect("emit");
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&tree));
    }
});
