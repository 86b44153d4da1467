//! JSON encoding of possibly non-finite `f64`: numbers, `"inf"`, `"-inf"`, `null` (NaN).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Wire form of one possibly non-finite number.
pub struct F(pub f64);

impl Serialize for F {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_none()
        } else if v == f64::INFINITY {
            s.serialize_str("inf")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-inf")
        } else {
            s.serialize_f64(v)
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Num(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for F {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(F(f64::NAN)),
            Some(Raw::Num(v)) => Ok(F(v)),
            Some(Raw::Text(t)) => match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" | "+infinity" => Ok(F(f64::INFINITY)),
                "-inf" | "-infinity" => Ok(F(f64::NEG_INFINITY)),
                "nan" => Ok(F(f64::NAN)),
                _ => Err(de::Error::custom(format!("not a number: {t:?}"))),
            },
        }
    }
}

pub mod one {
    use super::*;
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        F(*v).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(F::deserialize(d)?.0)
    }
}

/// `Option<f64>`: `None` and NaN are both `null`; `null` reads back as `None`.
pub mod opt {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(F).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<F>::deserialize(d)?
            .map(|f| f.0)
            .filter(|v| !v.is_nan()))
    }
}

pub mod vec {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| F(x)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<F>::deserialize(d)?.into_iter().map(|f| f.0).collect())
    }
}

pub mod matrix {
    use super::*;
    pub fn serialize<S: Serializer>(m: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            m.iter()
                .map(|row| row.iter().map(|&x| F(x)).collect::<Vec<_>>()),
        )
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<F>>::deserialize(d)?
            .into_iter()
            .map(|row| row.into_iter().map(|f| f.0).collect())
            .collect())
    }
}
