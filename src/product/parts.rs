//! Part names and their stable ids. The same id means the same part in every dataset of a
//! product; 0 is the background.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most parts a product can have: part ids are one byte and 0 is the background.
pub const MAX_PARTS: usize = 255;

/// Part names and ids, kept in id order. Stored in files as a table `name = id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartTable {
    entries: Vec<(u8, String)>,
}

impl PartTable {
    /// A table from (id, name) pairs in any order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u8, String)>) -> Self {
        let mut entries: Vec<(u8, String)> = pairs.into_iter().collect();
        entries.sort();
        Self { entries }
    }

    /// (id, name) of every part, in id order.
    pub fn named(&self) -> Vec<(u8, &str)> {
        self.entries.iter().map(|(i, n)| (*i, n.as_str())).collect()
    }

    pub fn name_of(&self, id: u8) -> Option<&str> {
        self.entries
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.as_str())
    }

    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.entries
            .iter()
            .find(|(_, n)| n == name)
            .map(|(i, _)| *i)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Ids are 1..=255 and each is used once; names are not empty.
    pub fn validate(&self) -> Result<(), String> {
        for (k, (id, name)) in self.entries.iter().enumerate() {
            if *id == 0 {
                return Err(format!(
                    "parts.{name}: part ids must be 1..=255 (0 is the background)"
                ));
            }
            if name.trim().is_empty() {
                return Err("parts: a part name is empty".into());
            }
            if self.entries[k + 1..].iter().any(|(other, _)| other == id) {
                return Err(format!("part id {id} is used twice"));
            }
        }
        Ok(())
    }
}

impl Serialize for PartTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (id, name) in &self.entries {
            map.serialize_entry(name, id)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PartTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = PartTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of part names and ids (1 to 255)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PartTable, A::Error> {
                let mut pairs = Vec::new();
                while let Some((name, id)) = map.next_entry::<String, u8>()? {
                    if pairs.len() >= MAX_PARTS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_PARTS} parts"
                        )));
                    }
                    pairs.push((id, name));
                }
                Ok(PartTable::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(TableVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_keep_id_order_and_serialise_as_name_to_id() {
        let t = PartTable::from_pairs([(3, "c".to_string()), (1, "a".into()), (2, "b".into())]);
        assert_eq!(t.named(), [(1, "a"), (2, "b"), (3, "c")]);
        assert_eq!(t.id_of("b"), Some(2));
        assert_eq!(t.name_of(3), Some("c"));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"a":1,"b":2,"c":3}"#);
        let back: PartTable = serde_json::from_str(r#"{"c":3,"a":1,"b":2}"#).unwrap();
        assert_eq!(back, t);
        assert!(t.validate().is_ok());
        let twice = PartTable::from_pairs([(1, "a".to_string()), (1, "b".into())]);
        assert!(twice.validate().unwrap_err().contains("used twice"));
        let zero = PartTable::from_pairs([(0, "a".to_string())]);
        assert!(zero.validate().unwrap_err().contains("0 is the background"));
        assert!(serde_json::from_str::<PartTable>(r#"{"a":256}"#).is_err());
    }
}
