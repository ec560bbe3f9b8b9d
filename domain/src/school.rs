//! Schools: the registry that record imports are checked against (the CSV's 学校名称 must be
//! the school's full name) and that scopes provincial authorities. Keyed by the school code.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// 5-digit school code (院校代码); the sample data uses 99001–99003.
pub fn parse_school_code(raw: &str) -> Option<String> {
    let code = raw.trim();
    (code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit())).then(|| code.to_string())
}

#[derive(Clone, Debug)]
pub enum SchoolCommand {
    Register {
        code: String,
        name: String,
        province: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SchoolEvent {
    SchoolRegistered {
        code: String,
        name: String,
        province: String,
    },
    SchoolRenamed {
        name: String,
        province: String,
    },
}

impl DomainEvent for SchoolEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SchoolRegistered { .. } => "SchoolRegistered",
            Self::SchoolRenamed { .. } => "SchoolRenamed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchoolError {
    #[error("a school code has 5 digits; a name and a province are required")]
    Invalid,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    code: Option<String>,
    name: String,
    province: String,
}

impl School {
    pub fn exists(&self) -> bool {
        self.code.is_some()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn province(&self) -> &str {
        &self.province
    }
}

impl Aggregate for School {
    const TYPE: &'static str = "School";
    type Command = SchoolCommand;
    type Event = SchoolEvent;
    type Error = SchoolError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let SchoolCommand::Register {
            code,
            name,
            province,
        } = command;
        let (name, province) = (name.trim().to_string(), province.trim().to_string());
        if parse_school_code(&code).is_none() || name.is_empty() || province.is_empty() {
            return Err(SchoolError::Invalid);
        }
        if !self.exists() {
            sink.write(
                SchoolEvent::SchoolRegistered {
                    code,
                    name,
                    province,
                },
                self,
            )
            .await;
        } else if self.name != name || self.province != province {
            sink.write(SchoolEvent::SchoolRenamed { name, province }, self)
                .await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SchoolEvent::SchoolRegistered {
                code,
                name,
                province,
            } => {
                self.code = Some(code);
                self.name = name;
                self.province = province;
            }
            SchoolEvent::SchoolRenamed { name, province } => {
                self.name = name;
                self.province = province;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn register(name: &str) -> SchoolCommand {
        SchoolCommand::Register {
            code: "99003".into(),
            name: name.into(),
            province: "四川".into(),
        }
    }

    #[test]
    fn registering_twice_with_the_same_data_changes_nothing() {
        let registered = SchoolEvent::SchoolRegistered {
            code: "99003".into(),
            name: "西部师范大学".into(),
            province: "四川".into(),
        };
        TestFramework::<School>::with(())
            .given_no_previous_events()
            .when(register("西部师范大学"))
            .then_expect_events(vec![registered.clone()]);
        TestFramework::<School>::with(())
            .given(vec![registered.clone()])
            .when(register("西部师范大学"))
            .then_expect_events(vec![]);
        TestFramework::<School>::with(())
            .given(vec![registered])
            .when(register("西部师范大学（新）"))
            .then_expect_events(vec![SchoolEvent::SchoolRenamed {
                name: "西部师范大学（新）".into(),
                province: "四川".into(),
            }]);
    }

    #[test]
    fn codes_have_five_digits() {
        assert!(parse_school_code("99003").is_some());
        assert!(parse_school_code("9900").is_none());
        TestFramework::<School>::with(())
            .given_no_previous_events()
            .when(SchoolCommand::Register {
                code: "abc".into(),
                name: "x".into(),
                province: "y".into(),
            })
            .then_expect_error(SchoolError::Invalid);
    }
}
