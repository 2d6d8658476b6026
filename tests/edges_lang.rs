//! scratch
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

#[test]
fn persisted_while() {
    let rt = Runtime::new(2).unwrap();
    let zs = rt.spawn(graph! {
        let v: Vec<_> = (0..8).map(|i| inc(i)).collect();
        v
    });
    let s = rt
        .compute(graph! {
            let mut l = &zs;
            while l.len() > 1 {
                let mut new_l = Vec::new();
                for i in (0..l.len()).step_by(2) {
                    new_l.push(add(l[i], l[i + 1]));
                }
                l = new_l;
            }
            l[0]
        })
        .unwrap();
    assert_eq!(s, 36);
}

#[test]
fn in_place() {
    let rt = Runtime::new(2).unwrap();
    let s = rt
        .compute(graph! {
            let mut v: Vec<_> = (0..8).map(|i| inc(i)).collect();
            for k in 1..8 {
                v[k] = add(v[k], v[k - 1]);
            }
            v[7]
        })
        .unwrap();
    assert_eq!(s, 36);
}

#[test]
fn borrow_handle() {
    let rt = Runtime::new(2).unwrap();
    let h = rt.spawn(graph! {
        let v: Vec<_> = (0..8).map(|i| inc(i)).collect();
        v
    });
    let s = rt.compute(graph! { tree_reduce(&h, add) }).unwrap();
    assert_eq!(s, 36);
    assert_eq!(h.wait().unwrap().len(), 8);
}

#[test]
fn captured_itself() {
    let rt = Runtime::new(2).unwrap();
    let zs = rt.spawn(graph! {
        let v: Vec<_> = (0..7).map(|i| inc(i)).collect();
        v
    });
    let s = rt
        .compute(graph! {
            while zs.len() > 1 {
                let mut next = Vec::new();
                for pair in zs.chunks(2) {
                    if pair.len() == 2 { next.push(add(pair[0], pair[1])); } else { next.push(pair[0]); }
                }
                zs = next;
            }
            zs[0]
        })
        .unwrap();
    assert_eq!(s, 28);
}
